import type * as ChildProcesses from 'node:child_process';
import { lazyRequire } from '../lazy-require.js';
import { isExecutable } from '../sys/files.js';
import { SYSTEM_PATH } from '../sys/postconf.js';

/**
 * Telling systemd that the daemon is ready, reloading or stopping
 * (sd_notify(3)). NOTIFY_SOCKET is a unix datagram socket, which Node cannot
 * open without a native addon, so systemd's own `systemd-notify` sends each
 * message (the unit needs NotifyAccess=all, as for any helper-sent message;
 * examples/postbal.service has it). Without NOTIFY_SOCKET (no systemd, or a
 * Type= other than notify) nothing is sent.
 */

const NOTIFY_PATHS = ['/usr/bin/systemd-notify', '/bin/systemd-notify'];

export class SystemdNotifier {
  readonly #socket: string | undefined;
  readonly #bin: string | undefined;
  /** Messages go out one at a time, in order. */
  #chain: Promise<void> = Promise.resolve();

  constructor(env: NodeJS.ProcessEnv) {
    this.#socket = env.NOTIFY_SOCKET;
    // Not for children (logger(1) would inherit it).
    delete env.NOTIFY_SOCKET;
    this.#bin = this.#socket === undefined ? undefined : NOTIFY_PATHS.find(isExecutable);
  }

  /** True when systemd listens and systemd-notify can reach it. */
  get active(): boolean {
    return this.#bin !== undefined;
  }

  /** Sends `READY=1`-style assignments; resolves once sent (or failed: never throws). */
  notify(...assignments: readonly string[]): Promise<void> {
    const bin = this.#bin;
    if (bin === undefined) return Promise.resolve();
    // --no-block: no barrier wait (a manager that is gone would hold the chain 5 s).
    const args = ['--no-block', `--pid=${process.pid}`, ...assignments];
    this.#chain = this.#chain.then(() => new Promise<void>((resolve) => {
      const child = lazyRequire<typeof ChildProcesses>('node:child_process').spawn(bin, args, { stdio: 'ignore', env: { PATH: SYSTEM_PATH, NOTIFY_SOCKET: this.#socket! } });
      child.once('error', () => resolve());
      child.once('close', () => resolve());
    }));
    return this.#chain;
  }
}
