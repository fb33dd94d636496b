import type { Frame, TooLong } from './types.js';

/** The one frame that stands for a line over the limit. */
export const TOO_LONG: TooLong = Object.freeze({ tooLong: true });

/**
 * Cuts a byte stream into LF-terminated lines, without I/O.
 *
 * Lines come out as byte strings (latin1: one char per byte), which keeps a
 * pipelined burst to one small allocation per line; keys are bytes to
 * Postfix too. A line longer than `maxLineBytes` is not buffered: the framer
 * drops its bytes until the next LF and then yields one TOO_LONG in its
 * place, so memory stays bounded whatever the peer sends and the next line is
 * served normally. A trailing CR is removed (CRLF tolerance).
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
      frames.push(this.#complete(chunk, start, nl));
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
      return [TOO_LONG];
    }
    if (this.#pendingBytes === 0) return [];
    return [this.#complete(Buffer.alloc(0), 0, 0)];
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

  #complete(chunk: Buffer, start: number, end: number): Frame {
    if (this.#discarding) {
      this.#discarding = false;
      return TOO_LONG;
    }
    let bytes = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk.subarray(start, end));
      bytes = Buffer.concat(this.#pending);
      start = 0;
      end = bytes.length;
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    if (end > start && bytes[end - 1] === 0x0d) end--;
    if (end - start > this.#maxLineBytes) return TOO_LONG;
    return bytes.toString('latin1', start, end);
  }
}
