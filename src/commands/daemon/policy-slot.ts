import type { Socket } from 'node:net';
import { serveConnection } from '../../io/serve.js';
import type { Logger } from '../../log/types.js';
import type { PolicySettings } from '../../policy/spec.js';
import { openPolicyService, type PolicyService } from '../policy.js';

/**
 * The daemon's policy routing, replaceable while connections use it: a
 * connection keeps the services it started with; after SIGHUP new
 * connections get the new ones, and the old router closes once its last
 * connection ended (its backends' sockets with it).
 */

interface Generation {
  readonly service: PolicyService;
  users: number;
  retired: boolean;
}

export class PolicySlot {
  #current: Generation;
  readonly #statePath: string;
  readonly #logger: Logger;
  readonly #logRequests: boolean;

  constructor(settings: PolicySettings, statePath: string, logger: Logger, logRequests: boolean) {
    this.#statePath = statePath;
    this.#logger = logger;
    this.#logRequests = logRequests;
    this.#current = this.#open(settings);
  }

  #open(settings: PolicySettings): Generation {
    return { service: openPolicyService(settings, this.#statePath, this.#logger, this.#logRequests), users: 0, retired: false };
  }

  /** Serves one connection with the services in force when it began. */
  async serve(socket: Socket, stop: AbortSignal): Promise<void> {
    const gen = this.#current;
    gen.users++;
    const conn = gen.service.connection();
    try {
      await serveConnection(socket, socket, () => conn.wire, conn.hooks, stop);
      conn.closed();
    } finally {
      gen.users--;
      if (gen.retired && gen.users === 0) gen.service.close();
    }
  }

  /** New services for new connections, when they differ from the ones in force. */
  replace(settings: PolicySettings): void {
    if (JSON.stringify(settings) === JSON.stringify(this.#current.service.settings)) {
      this.#logger.log('info', 'daemon: SIGHUP: policy services unchanged');
      return;
    }
    const old = this.#current;
    this.#current = this.#open(settings);
    old.retired = true;
    if (old.users === 0) old.service.close();
  }

  close(): void {
    this.#current.retired = true;
    if (this.#current.users === 0) this.#current.service.close();
  }
}
