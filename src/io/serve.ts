import type { Readable, Writable } from 'node:stream';
import type { Wire } from '../protocol/wire.js';

/**
 * The one serving loop of every stdin protocol (tcp_table, socketmap,
 * policy), and the only code that writes to the connection. Each chunk read
 * is cut into frames; they are handled a slice at a time (protocol/wire.ts),
 * a slice only after the one before it was answered, so replies leave in
 * request order, exactly one per request whatever the handler does (throws,
 * answers too few, rejects, or misses its deadline: the wire's `failure`).
 * A handler that answers at once (lookups) is answered in the same tick: a
 * pipelined burst costs one lock and one write per slice, no waiting for
 * more input. Input is read only while fewer than MAX_WAITING frames wait
 * and the peer takes what was written: a client that pipelines without
 * reading cannot grow the process (400,000 pipelined policy requests took
 * 287 MB before this rule).
 */

/** Frames read ahead of their replies at most; past this, input waits. */
export const MAX_WAITING = 64;

export interface ServeHooks<Req, Out> {
  /** The answers to a slice of requests, in order; at once or later. */
  handle(requests: readonly Req[]): readonly Out[] | Promise<readonly Out[]>;
  /** A slice not answered within this many ms gets the wire's `failure` (undefined: no deadline). */
  readonly deadlineMs?: number;
  /** Runs after each slice's replies were handed to the output. */
  readonly replied?: (requests: readonly Req[], answers: readonly Out[]) => void;
  /** Runs once, right after the first replies were handed to the output. */
  readonly afterFirstReply?: () => void;
  /** A handler or hook threw, rejected or answered the wrong count (a bug), or missed the deadline. */
  internalError(err: unknown): void;
  /** The stream cannot be framed any further; the connection is being closed. */
  readonly framingError?: (reason: string) => void;
}

export type ServeEnd = 'eof' | 'peer-gone' | 'framing-error';

/** A slice that missed its deadline. */
export class DeadlineError extends Error {}

/**
 * Serves `input` to `output` through the wire `pick` chooses from the first
 * chunk. Resolves when input ended and every reply was written (or the peer
 * left, or the stream could not be framed).
 */
export function serveConnection<F, Req, Out>(
  input: Readable,
  output: Writable,
  pick: (firstChunk: Buffer) => Wire<F, Req, Out>,
  hooks: ServeHooks<Req, Out>,
  stop?: AbortSignal,
): Promise<ServeEnd> {
  return new Promise((resolve) => new Connection(input, output, pick, hooks, resolve).start(stop));
}

class Connection<F, Req, Out> {
  #wire: Wire<F, Req, Out> | undefined;
  readonly #waiting: F[] = [];
  /** A slice is being awaited: the next waits for it (request order). */
  #busy = false;
  #paused = false;
  #ended = false;
  #fatal: string | undefined;
  /** No more replies: the last write was issued, or the peer left. */
  #closing = false;
  #firstReply = true;
  #unlisten: (() => void) | undefined;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly pick: (firstChunk: Buffer) => Wire<F, Req, Out>,
    private readonly hooks: ServeHooks<Req, Out>,
    private readonly resolve: (how: ServeEnd) => void,
  ) {}

  /** `stop`: read nothing more, answer what was read in full (a request cut short is dropped), then end. */
  start(stop?: AbortSignal): void {
    if (stop) {
      const onStop = (): void => this.#stop();
      stop.addEventListener('abort', onStop, { once: true });
      // A daemon's signal outlives thousands of connections.
      this.#unlisten = () => stop.removeEventListener('abort', onStop);
    }
    this.output.on('error', () => this.#finish('peer-gone'));
    this.output.on('drain', () => this.#resumeWhenClear());
    this.input.on('error', () => this.#atEnd());
    this.input.on('end', () => this.#atEnd());
    this.input.on('data', (chunk: Buffer) => {
      if (chunk.length === 0 || this.#fatal !== undefined) return;
      this.#wire ??= this.pick(chunk);
      this.#take(this.#wire.feed(chunk));
    });
  }

  #take(r: { readonly frames: F[]; readonly fatal?: string }): void {
    for (const f of r.frames) this.#waiting.push(f);
    if (r.fatal !== undefined) {
      this.#fatal = r.fatal;
      this.#guard(() => this.hooks.framingError?.(r.fatal!));
      // Nothing after the error can be read.
      this.input.removeAllListeners('data');
      this.input.pause();
    }
    this.#pump();
    if (!this.#paused && !this.#ended && this.#fatal === undefined && this.#backedUp()) {
      this.#paused = true;
      this.input.pause();
    }
  }

  #atEnd(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#wire && this.#fatal === undefined) this.#take(this.#wire.end());
    else this.#pump();
  }

  #stop(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.input.removeAllListeners('data');
    this.input.pause();
    this.#pump();
  }

  #backedUp(): boolean {
    return this.#waiting.length >= MAX_WAITING || this.output.writableNeedDrain;
  }

  #resumeWhenClear(): void {
    if (!this.#paused || this.#backedUp()) return;
    this.#paused = false;
    this.input.resume();
  }

  /** Handles waiting slices until one must be awaited or none is left; then ends the connection if all is done. */
  #pump(): void {
    while (!this.#busy && !this.#closing && this.#waiting.length > 0) {
      const wire = this.#wire!;
      const requests = this.#waiting.splice(0, wire.slice).map((f) => wire.decode(f));
      let answers: readonly Out[] | Promise<readonly Out[]>;
      try {
        answers = this.hooks.handle(requests);
      } catch (err) {
        answers = this.#failed(err, requests.length);
      }
      if (!(answers instanceof Promise)) {
        this.#reply(requests, this.#checked(answers, requests.length));
        continue;
      }
      this.#busy = true;
      void this.#settle(answers, requests.length).then((settled) => {
        this.#busy = false;
        this.#reply(requests, settled);
        this.#pump();
        this.#resumeWhenClear();
      });
      return;
    }
    if (this.#busy || this.#closing || this.#waiting.length > 0) return;
    if (this.#fatal !== undefined) {
      this.#closing = true;
      this.output.write(this.#wire!.fatalReply(this.#fatal), () => {
        // A paused stdin would keep the process alive.
        this.input.destroy();
        this.#finish('framing-error');
      });
    } else if (this.#ended) {
      this.#closing = true;
      this.output.write('', () => this.#finish('eof'));
    }
  }

  /** An async slice's answers, or the failure answer when it rejects or misses the deadline. */
  async #settle(answers: Promise<readonly Out[]>, n: number): Promise<readonly Out[]> {
    const deadline = this.hooks.deadlineMs;
    let timer: NodeJS.Timeout | undefined;
    const late = deadline === undefined ? undefined : new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError(`no answer within ${deadline} ms`)), deadline);
    });
    try {
      return this.#checked(await (late ? Promise.race([answers, late]) : answers), n);
    } catch (err) {
      return this.#failed(err, n);
    } finally {
      clearTimeout(timer);
    }
  }

  #checked(answers: readonly Out[], n: number): readonly Out[] {
    if (answers.length === n) return answers;
    return this.#failed(new Error(`handler answered ${answers.length} of ${n} requests`), n);
  }

  #failed(err: unknown, n: number): Out[] {
    this.#guard(() => this.hooks.internalError(err));
    return new Array<Out>(n).fill(this.#wire!.failure);
  }

  #reply(requests: readonly Req[], answers: readonly Out[]): void {
    if (this.#closing) return;
    let bytes: string | Buffer;
    try {
      bytes = this.#encode(answers);
    } catch (err) {
      bytes = this.#encode(this.#failed(err, requests.length));
    }
    this.output.write(bytes);
    this.#guard(() => this.hooks.replied?.(requests, answers));
    if (this.#firstReply) {
      this.#firstReply = false;
      this.#guard(() => this.hooks.afterFirstReply?.());
    }
  }

  /** One write per slice. */
  #encode(answers: readonly Out[]): string | Buffer {
    const parts = answers.map((a) => this.#wire!.encode(a));
    if (parts.every((p) => typeof p === 'string')) return parts.join('');
    return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
  }

  /** A hook's exception is a bug to report, never a lost reply. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      try {
        this.hooks.internalError(err);
      } catch {
        // The last resort has failed too; the replies still go out.
      }
    }
  }

  /** Resolves once: the first of the end, a framing error, or the peer leaving. */
  #finish(how: ServeEnd): void {
    this.#closing = true;
    this.#unlisten?.();
    this.input.removeAllListeners('data');
    this.resolve(how);
  }
}
