/**
 * Postfix policy delegation (SMTPD_POLICY_README): a request is `name=value`
 * lines ended by an empty line; the reply is `action=…` and an empty line.
 * The framer keeps each request's bytes exactly as they came, so a backend
 * receives what Postfix sent, in order and byte for byte. Pure: feed bytes,
 * take frames.
 */

/** A complete request, or one that was too big and was skipped to its end. */
export type PolicyFrame = { readonly kind: 'request'; readonly raw: Buffer } | { readonly kind: 'tooLong' };

const LF = 0x0a;

export class PolicyFramer {
  readonly #max: number;
  #parts: Buffer[] = [];
  #size = 0;
  /** The last byte seen was LF (so another LF ends the request). */
  #atLineStart = true;
  #skipping = false;

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  /** The frames `chunk` completes. */
  feed(chunk: Buffer): PolicyFrame[] {
    const frames: PolicyFrame[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== LF) {
        this.#atLineStart = false;
        continue;
      }
      if (!this.#atLineStart) {
        this.#atLineStart = true;
        continue;
      }
      // An empty line: the request ends here.
      const piece = chunk.subarray(start, i + 1);
      start = i + 1;
      if (this.#skipping || this.#size + piece.length > this.#max) {
        frames.push({ kind: 'tooLong' });
      } else if (this.#size + piece.length > 1) {
        frames.push({ kind: 'request', raw: Buffer.concat([...this.#parts, piece]) });
      }
      // (A lone empty line before any attribute is not a request.)
      this.#parts = [];
      this.#size = 0;
      this.#skipping = false;
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0 && !this.#skipping) {
      if (this.#size + rest.length > this.#max) {
        // Keep nothing of it: memory stays bounded, the end of it is still awaited.
        this.#skipping = true;
        this.#parts = [];
        this.#size = 0;
      } else {
        this.#parts.push(Buffer.from(rest));
        this.#size += rest.length;
      }
    }
    return frames;
  }

  /** Bytes of an unfinished request at EOF (Postfix never leaves one): dropped. */
  get pendingBytes(): number {
    return this.#size;
  }
}

/** The reply for a default action, e.g. `dunno` → `action=dunno\n\n`. */
export function encodePolicyAction(action: string): Buffer {
  return Buffer.from(`action=${action}\n\n`, 'latin1');
}
