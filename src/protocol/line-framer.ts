import type { Frame } from './types.js';

/**
 * Cuts a byte stream into LF-terminated lines, without I/O.
 *
 * A line longer than `maxLineBytes` is not buffered: the framer drops its bytes
 * until the next LF and then yields one `tooLong` frame in its place, so memory
 * stays bounded whatever the peer sends and the next line is served normally.
 * A trailing CR is removed (CRLF tolerance).
 */
export class LineFramer {
  readonly #maxLineBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #discarding = false;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Feeds a chunk and returns every frame it completes, in order. */
  feed(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      frames.push(this.#complete(chunk.subarray(start, nl)));
      start = nl + 1;
    }
    if (start < chunk.length) this.#append(chunk.subarray(start));
    return frames;
  }

  /**
   * Ends the stream. An unterminated last line (as `printf 'get x' | postbal`
   * sends) is treated as if it had its LF; an empty remainder yields nothing.
   */
  end(): Frame[] {
    if (this.#discarding) {
      this.#discarding = false;
      return [{ kind: 'tooLong' }];
    }
    if (this.#pendingBytes === 0) return [];
    return [this.#complete(Buffer.alloc(0))];
  }

  #append(part: Buffer): void {
    if (this.#discarding) return;
    if (this.#pendingBytes + part.length > this.#maxLineBytes) {
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#discarding = true;
      return;
    }
    // Copy: the caller may reuse the chunk's memory.
    this.#pending.push(Buffer.from(part));
    this.#pendingBytes += part.length;
  }

  #complete(tail: Buffer): Frame {
    if (this.#discarding) {
      this.#discarding = false;
      return { kind: 'tooLong' };
    }
    let line: Buffer;
    if (this.#pendingBytes === 0) {
      line = tail;
    } else {
      if (this.#pendingBytes + tail.length > this.#maxLineBytes) {
        this.#pending = [];
        this.#pendingBytes = 0;
        return { kind: 'tooLong' };
      }
      this.#pending.push(tail);
      line = Buffer.concat(this.#pending);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    if (line.length > this.#maxLineBytes) return { kind: 'tooLong' };
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    return { kind: 'line', bytes: line };
  }
}
