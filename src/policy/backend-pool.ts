import { PolicyBackend, type BackendSpec } from './backend.js';

/**
 * The connections to one policy service. A connection carries one request
 * at a time (backend.ts), so requests asked together (the daemon's many
 * smtpd connections) each take an idle connection or open one, as each smtpd
 * process has its own connection to a service it talks to directly. A
 * spawned `postbal policy` asks one at a time and keeps one connection.
 */

/** Idle connections kept for the next requests; more are closed when their request ends. */
const MAX_IDLE = 256;

export class BackendPool {
  readonly spec: BackendSpec;
  readonly #idle: PolicyBackend[] = [];
  #closed = false;

  constructor(spec: BackendSpec) {
    this.spec = spec;
  }

  /** Sends one request as it is and resolves with the reply as it came (rejects with a PolicyBackendError). */
  async ask(raw: Buffer): Promise<Buffer> {
    const backend = this.#idle.pop() ?? new PolicyBackend(this.spec);
    try {
      return await backend.ask(raw);
    } finally {
      if (this.#closed || this.#idle.length >= MAX_IDLE) backend.close();
      else this.#idle.push(backend);
    }
  }

  close(): void {
    this.#closed = true;
    for (const b of this.#idle.splice(0)) b.close();
  }
}
