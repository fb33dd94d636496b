import type { Socket } from 'node:net';

/**
 * The daemon's open connections: each is served by its own serving loop
 * (io/serve.ts), so a slow or hostile one holds only itself up; at shutdown
 * every loop is told to stop reading, answers what it read, and closes.
 */

/** Serves one connection until it ends or `stop` fires. */
export type ServeSocket = (socket: Socket, stop: AbortSignal) => Promise<unknown>;

export class ConnectionSet {
  readonly #open = new Set<Socket>();
  readonly #stop = new AbortController();
  #accepted = 0;
  #emptied: (() => void) | undefined;

  get open(): number {
    return this.#open.size;
  }

  /** Connections accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  accept(socket: Socket, serve: ServeSocket, onError: (err: unknown) => void): void {
    if (this.#stop.signal.aborted) {
      socket.destroy();
      return;
    }
    this.#accepted++;
    this.#open.add(socket);
    // One reply per request, each written whole: waiting to fill a segment (Nagle) only delays it.
    if (socket.remoteAddress !== undefined) socket.setNoDelay(true);
    // The serving loop sees a reset as the peer leaving; nothing to add.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.#open.delete(socket);
      if (this.#open.size === 0) this.#emptied?.();
    });
    serve(socket, this.#stop.signal).catch(onError).finally(() => {
      // Every reply is written; the peer's side may stay open (allowHalfOpen).
      socket.end(() => socket.destroy());
    });
  }

  /**
   * Stops every connection: no more reading, the replies under way are
   * written, then each closes. Connections still open after `graceMs` (a
   * policy service that does not answer) are cut.
   */
  async close(graceMs: number): Promise<void> {
    this.#stop.abort();
    if (this.#open.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#emptied = resolve;
      timer = setTimeout(() => {
        for (const s of this.#open) s.destroy();
        resolve();
      }, graceMs);
    });
    clearTimeout(timer);
  }
}
