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

/**
 * Why a request failed, and at which stage: `connect` (the service could not
 * be reached: true of every request, so proof that it is down) or `reply`
 * (the request was sent: no reply in time, a broken or unasked reply, the
 * connection lost; possibly about this request only).
 */
export class PolicyBackendError extends Error {
  readonly stage: 'connect' | 'reply';
  constructor(stage: 'connect' | 'reply', message: string) {
    super(message);
    this.stage = stage;
  }
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
  /** The request waiting for its reply (one at a time on a connection). */
  #pending: { resolve: (reply: Buffer) => void; reject: (err: Error) => void; sock: Socket } | undefined;
  /**
   * One reply timer for every request, re-armed by each (refresh) rather than
   * created and cleared per request; it fires only after `timeoutMs` without
   * a request, and then fails the request only if that one is still pending.
   */
  #timer: NodeJS.Timeout | undefined;
  #askedAt = 0;

  constructor(spec: BackendSpec) {
    this.spec = spec;
  }

  /** The open connection, if it is usable as it is. */
  #ready(): Socket | undefined {
    const sock = this.#socket;
    return sock && !sock.destroyed && sock.readyState === 'open' ? sock : undefined;
  }

  #open(): Promise<Socket> {
    this.close();
    return new Promise((resolve, reject) => {
      const sock = connect({ host: this.spec.host, port: this.spec.port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new PolicyBackendError('connect', `connect timed out after ${CONNECT_TIMEOUT_MS} ms`));
      }, Math.min(CONNECT_TIMEOUT_MS, this.spec.timeoutMs));
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.setNoDelay(true);
        this.#socket = sock;
        this.#framer = new PolicyFramer(POLICY_MAX_REQUEST_BYTES);
        // Listeners once per connection, not per request.
        sock.on('data', (chunk: Buffer) => this.#onData(sock, chunk));
        sock.on('close', () => this.#fail(sock, new PolicyBackendError('reply', 'connection closed before the reply')));
        sock.on('error', (err: NodeJS.ErrnoException) => this.#fail(sock, new PolicyBackendError('reply', err.code ?? err.message)));
        resolve(sock);
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new PolicyBackendError('connect', err.code ?? err.message));
      });
    });
  }

  #onData(sock: Socket, chunk: Buffer): void {
    const frames = this.#framer.feed(chunk);
    if (frames.length === 0) return;
    const f = frames[0]!;
    // A reply nobody asked for, more than one, or the start of another: the
    // connection is out of step, and a reply on it could answer the wrong
    // request. It is dropped; the request waiting goes to the next service.
    if (!this.#pending || this.#pending.sock !== sock || f.kind === 'tooLong' || frames.length > 1 || this.#framer.pendingBytes > 0) {
      this.#fail(sock, new PolicyBackendError('reply', 'reply too long, unasked, or more than one'));
      return;
    }
    // smtpd turns a reply without an action into 451 for the client: not an answer.
    if (!(f.raw.subarray(0, 7).toString('latin1') === 'action=' || f.raw.includes('\naction=', 0, 'latin1'))) {
      this.#fail(sock, new PolicyBackendError('reply', 'reply without action='));
      return;
    }
    const p = this.#pending;
    this.#pending = undefined;
    p.resolve(f.raw);
  }

  /**
   * Drops `sock` and fails the request pending on it, if any. A request sent
   * on another (newer) connection is not this socket's to fail: an old
   * socket's close arrives after its replacement carries the next request.
   */
  #fail(sock: Socket, err: Error): void {
    sock.destroy();
    if (this.#socket === sock) this.close();
    const p = this.#pending;
    if (!p || p.sock !== sock) return;
    this.#pending = undefined;
    p.reject(err);
  }

  /** Sends one request as it is and resolves with the reply as it came. */
  ask(raw: Buffer): Promise<Buffer> {
    // A request still out (the serving loop answered it past its deadline):
    // its reply must never answer this one, so its connection goes with it.
    if (this.#pending) this.#fail(this.#pending.sock, new PolicyBackendError('reply', 'abandoned: answered with the default action past the deadline'));
    const sock = this.#ready();
    return sock ? this.#send(sock, raw) : this.#open().then((s) => this.#send(s, raw));
  }

  #send(sock: Socket, raw: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject, sock };
      this.#askedAt = performance.now();
      if (this.#timer) this.#timer.refresh();
      else this.#timer = this.#arm(this.spec.timeoutMs);
      sock.write(raw);
    });
  }

  #timedOut(): void {
    const p = this.#pending;
    if (!p) return;
    const left = this.spec.timeoutMs - (performance.now() - this.#askedAt);
    // A timer can fire a moment early; the request still has its time.
    if (left > 1) {
      this.#timer = this.#arm(left);
      return;
    }
    // The socket goes with the request: a late reply on it must never answer the next one.
    this.#fail(p.sock, new PolicyBackendError('reply', `no reply within ${this.spec.timeoutMs} ms`));
  }

  /** Unref'd: a pending request's socket keeps the process up, an idle timer must not. */
  #arm(ms: number): NodeJS.Timeout {
    const t = setTimeout(() => this.#timedOut(), ms);
    t.unref();
    return t;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const sock = this.#socket;
    this.#socket = undefined;
    sock?.destroy();
  }
}
