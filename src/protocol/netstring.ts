/**
 * Netstring framing (`LENGTH:BYTES,`), as socketmap(5) uses it. Pure; no I/O.
 *
 * Unlike a line, a netstring that goes wrong cannot be resynchronised: once
 * a length is malformed, every later byte's meaning is unknown. So the
 * framer reports the first error and stops; the caller answers it and closes.
 */

export type NetstringResult =
  | { readonly frames: string[]; readonly error?: undefined }
  | { readonly frames: string[]; readonly error: string };

const COLON = 0x3a;
const COMMA = 0x2c;

export class NetstringFramer {
  readonly #maxBytes: number;
  readonly #maxDigits: number;
  #buf: Buffer = Buffer.alloc(0);
  #failed = false;

  /** @param maxBytes the longest payload accepted */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    this.#maxDigits = String(maxBytes).length;
  }

  /** Feeds a chunk; returns every netstring it completes (payloads as byte strings), then the error if one was hit. */
  feed(chunk: Buffer): NetstringResult {
    const frames: string[] = [];
    if (this.#failed) return { frames };
    let buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let pos = 0;
    for (;;) {
      let length = 0;
      let i = pos;
      while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
        length = length * 10 + (buf[i]! - 0x30);
        i++;
        if (i - pos > this.#maxDigits) return this.#fail(frames, `netstring length has more than ${this.#maxDigits} digits`);
      }
      if (i === buf.length) break; // length not complete yet
      if (i === pos) return this.#fail(frames, `expected a netstring length (a digit), got byte 0x${buf[i]!.toString(16).padStart(2, '0')}`);
      if (buf[i] !== COLON) return this.#fail(frames, `expected ":" after the netstring length, got byte 0x${buf[i]!.toString(16).padStart(2, '0')}`);
      if (length > this.#maxBytes) return this.#fail(frames, `netstring of ${length} bytes exceeds the limit of ${this.#maxBytes}`);
      const end = i + 1 + length;
      if (end >= buf.length) break; // payload or comma not complete yet
      if (buf[end] !== COMMA) return this.#fail(frames, `expected "," after ${length} bytes of netstring payload, got byte 0x${buf[end]!.toString(16).padStart(2, '0')}`);
      frames.push(buf.toString('latin1', i + 1, end));
      pos = end + 1;
      if (pos === buf.length) break;
    }
    // Keep an incomplete netstring (bounded by maxBytes plus its header); copy,
    // as the caller may reuse the chunk's memory.
    buf = buf.subarray(pos);
    this.#buf = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return { frames };
  }

  /** Ends the stream: a partial netstring left over is an error. */
  end(): string | undefined {
    if (this.#failed || this.#buf.length === 0) return undefined;
    this.#buf = Buffer.alloc(0);
    return 'connection closed in the middle of a netstring';
  }

  #fail(frames: string[], error: string): NetstringResult {
    this.#failed = true;
    this.#buf = Buffer.alloc(0);
    return { frames, error };
  }
}

/** Wraps a reply (UTF-8 text) as a netstring. */
export function netstring(payload: string): string {
  return `${Buffer.byteLength(payload, 'utf8')}:${payload},`;
}
