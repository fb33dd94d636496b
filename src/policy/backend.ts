import { connect, type Socket } from 'node:net';
import { POLICY_MAX_REQUEST_BYTES } from '../protocol/limits.js';
import { PolicyFramer } from '../protocol/policy.js';

/** One policy service, as `-s name=host:port[:prio[:weight[:timeout]]]` names it. */
export interface BackendSpec {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Lower is tried first. */
  readonly priority: number;
  readonly weight: number;
  /** How long a reply may take (ms). */
  readonly timeoutMs: number;
}

/** Connecting may take at most this long (ms), whatever the reply timeout: a dead host should cost little. */
export const CONNECT_TIMEOUT_MS = 2000;

/**
 * A persistent connection to one policy service, reused for every request
 * (Postfix's smtpd does the same with us); one request at a time on it.
 * Never throws: a failure is a rejected promise with the reason.
 */
export class PolicyBackend {
  readonly spec: BackendSpec;
  #socket: Socket | undefined;
  #framer = new PolicyFramer(POLICY_MAX_REQUEST_BYTES);

  constructor(spec: BackendSpec) {
    this.spec = spec;
  }

  #open(): Promise<Socket> {
    if (this.#socket && !this.#socket.destroyed && this.#socket.readyState === 'open') return Promise.resolve(this.#socket);
    this.close();
    return new Promise((resolve, reject) => {
      const sock = connect({ host: this.spec.host, port: this.spec.port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect timed out after ${CONNECT_TIMEOUT_MS} ms`));
      }, Math.min(CONNECT_TIMEOUT_MS, this.spec.timeoutMs));
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.setNoDelay(true);
        this.#socket = sock;
        this.#framer = new PolicyFramer(POLICY_MAX_REQUEST_BYTES);
        resolve(sock);
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(err.code ?? err.message));
      });
    });
  }

  /** Sends one request as it is and resolves with the reply as it came. */
  async ask(raw: Buffer): Promise<Buffer> {
    const sock = await this.#open();
    return new Promise((resolve, reject) => {
      const finish = (err: Error | undefined, reply?: Buffer): void => {
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('close', onClose);
        sock.off('error', onError);
        if (err) {
          this.close();
          reject(err);
        } else resolve(reply!);
      };
      const onData = (chunk: Buffer): void => {
        const frames = this.#framer.feed(chunk);
        if (frames.length === 0) return;
        const f = frames[0]!;
        if (f.kind === 'tooLong' || frames.length > 1) finish(new Error('reply too long or more than one reply'));
        else finish(undefined, f.raw);
      };
      const onClose = (): void => finish(new Error('connection closed before the reply'));
      const onError = (err: NodeJS.ErrnoException): void => finish(new Error(err.code ?? err.message));
      const timer = setTimeout(() => finish(new Error(`no reply within ${this.spec.timeoutMs} ms`)), this.spec.timeoutMs);
      sock.on('data', onData);
      sock.once('close', onClose);
      sock.once('error', onError);
      sock.write(raw);
    });
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }
}
