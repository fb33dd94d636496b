import { readSync, writeSync } from 'node:fs';
import type { SlotIO } from './memo.js';
import { MEMO_OFFSET, MEMO_SLOT_BYTES } from './layout.js';

/**
 * The memo's slots in an open state file. The memo is a hint (a lost slot
 * costs one extra position, never a wrong answer), so its I/O never throws:
 * a memo handed out for a burst may be written after the burst's replies,
 * when the file it was read from has since been closed, replaced or
 * destroyed. It must then do nothing: a write to a closed descriptor is
 * EBADF, and a write to a reused descriptor number would land in another file.
 */

/** One open state file; `open` turns false (for good) when the store closes it. */
export interface OpenFile {
  readonly fd: number;
  open: boolean;
}

/** A memo batch this large reads the whole memo region at once. */
const BULK_MEMO_OPS = 32;

/** Reused between batches: a fresh 256 KiB buffer per batch only feeds the GC. */
export class MemoRegion {
  #buffer: Buffer | undefined;
  #words: Uint32Array | undefined;

  /**
   * SlotIO for one batch of about `expectedOps` operations. A large batch reads
   * the whole region once; a small one (a lookup from Postfix) reads just the
   * probe windows it touches. Each changed slot is written back alone, 16 bytes
   * at a 16-byte offset, so writers never overwrite each other's slots.
   * Lock needs: none.
   */
  io(file: OpenFile, slots: number, expectedOps: number): SlotIO {
    if (this.#buffer?.length !== slots * MEMO_SLOT_BYTES) {
      this.#buffer = Buffer.alloc(slots * MEMO_SLOT_BYTES);
      this.#words = new Uint32Array(this.#buffer.buffer, this.#buffer.byteOffset, slots * 4);
    }
    const region = this.#buffer;
    const words = this.#words!;
    const bulk = expectedOps >= BULK_MEMO_OPS;
    /** False once the file is gone or an I/O failed: from then on the memo remembers nothing. */
    let live = true;
    const io = (fn: () => void): void => {
      if (!live || !file.open) {
        live = false;
        return;
      }
      try {
        fn();
      } catch {
        live = false;
      }
    };
    if (bulk) {
      io(() => readSync(file.fd, region, 0, region.length, MEMO_OFFSET));
      // Slots that could not be read must not be taken for answers.
      if (!live) words.fill(0);
    }
    return {
      slots,
      words,
      load(first: number, count: number): void {
        if (bulk) return;
        const from = first * MEMO_SLOT_BYTES;
        io(() => readSync(file.fd, region, from, count * MEMO_SLOT_BYTES, MEMO_OFFSET + from));
        if (!live) words.fill(0, first * 4, (first + count) * 4);
      },
      store(index: number): void {
        const from = index * MEMO_SLOT_BYTES;
        io(() => writeSync(file.fd, region, from, MEMO_SLOT_BYTES, MEMO_OFFSET + from));
      },
    };
  }
}
