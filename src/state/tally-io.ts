import { readSync, writeSync } from 'node:fs';
import { tallyOffset } from './layout.js';
import { PendingTally, TALLY_BYTES, decodeTally, encodeTally } from './tally.js';

/** At most one tally write per process per this often (and one at exit). */
const FLUSH_MS = 1000;

/**
 * What one process counted, and its way into the file's tally region
 * (state/tally.ts): at most once a second, since the counters are for
 * scrapes that come every 15 s or so, and a lookup should not pay a 4 KiB
 * read and write each time.
 */
export class TallyRegion {
  readonly pending = new PendingTally();
  readonly #now: () => number;
  #flushedMs = -Infinity;

  constructor(monotonicMs: () => number) {
    this.#now = monotonicMs;
  }

  /** The next transaction adds what is pending, however recent the last write (at exit). */
  due(): void {
    this.#flushedMs = -Infinity;
  }

  /** Adds what is pending to the region of the file open as `fd`. Lock needs: the lock-table lock. */
  flush(fd: number, memoSlots: number): void {
    const nowMs = this.#now();
    if (this.pending.empty || nowMs - this.#flushedMs < FLUSH_MS) return;
    const at = tallyOffset(memoSlots);
    const buf = Buffer.alloc(TALLY_BYTES);
    const n = readSync(fd, buf, 0, TALLY_BYTES, at);
    const next = encodeTally(this.pending.mergedWith(decodeTally(buf.subarray(0, n))));
    for (let off = 0; off < next.length;) off += writeSync(fd, next, off, next.length - off, at + off);
    this.pending.clear();
    this.#flushedMs = nowMs;
  }
}
