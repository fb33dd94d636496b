import { readSync, writeSync } from 'node:fs';
import { monotonicMs } from '../clock.js';
import { pidAlive, sleepMs } from './peers.js';
import { LOCK_SLOTS, LOCK_SLOT_BYTES, LOCK_TABLE_OFFSET } from './layout.js';

/**
 * The per-lookup lock: Lamport's bakery algorithm over a table of slots in
 * the state file, one slot per instance, so that taking and releasing the
 * lock are a few reads and writes in a file already open, never a directory
 * operation.
 *
 * Why: the obvious lock, an O_EXCL sidecar file, costs a create and an unlink
 * per lookup; on a disk busy with Postfix's own queue files that cost 13% of
 * end-to-end delivery throughput (README, design notes). The bakery needs no
 * atomic read-modify-write, only that each slot be written by its owner alone,
 * which holds here: a slot is claimed (under the sidecar lock, once per
 * process) by writing the owner's PID, and only the owner writes it after.
 *
 * Every field is read in one pread of the table, in address order, so for
 * each slot `choosing` is read before `number`, as the algorithm requires.
 * A slot whose PID is gone (killed instance) is ignored; one that stays in
 * the way longer than `staleMs` (a stuck or PID-reused slot) is ignored from
 * then on while it stays unchanged.
 */

const PID = 0;
const CHOOSING = 4;
const NUMBER = 8;


export type BakeryAcquire = { readonly ok: true } | { readonly ok: false; readonly detail: string };

export class BakeryLock {
  readonly #fd: number;
  readonly #slot: number;
  readonly #opts: { timeoutMs: number; staleMs: number };
  readonly #table = Buffer.alloc(LOCK_SLOTS * LOCK_SLOT_BYTES);
  readonly #word = Buffer.alloc(4);
  /** Slots found stuck, with the contents they were stuck with. */
  readonly #ignored = new Map<number, string>();
  #number = 0;

  private constructor(fd: number, slot: number, opts: { timeoutMs: number; staleMs: number }) {
    this.#fd = fd;
    this.#slot = slot;
    this.#opts = opts;
  }

  /**
   * Claims a free slot for this process. Lock needs: the sidecar lock must be
   * held, so that two processes never claim the same slot.
   * @returns the lock, or undefined when every slot is taken by a live process
   */
  static claim(fd: number, opts: { timeoutMs: number; staleMs: number }): BakeryLock | undefined {
    const table = Buffer.alloc(LOCK_SLOTS * LOCK_SLOT_BYTES);
    readSync(fd, table, 0, table.length, LOCK_TABLE_OFFSET);
    let free = -1;
    for (let i = 0; i < LOCK_SLOTS; i++) {
      const pid = table.readUInt32LE(i * LOCK_SLOT_BYTES + PID);
      if (pid === process.pid || pid === 0 || !pidAlive(pid)) {
        free = i;
        break;
      }
    }
    if (free < 0) return undefined;
    const slot = Buffer.alloc(LOCK_SLOT_BYTES);
    slot.writeUInt32LE(process.pid, PID);
    writeSync(fd, slot, 0, LOCK_SLOT_BYTES, LOCK_TABLE_OFFSET + free * LOCK_SLOT_BYTES);
    return new BakeryLock(fd, free, opts);
  }

  #writeField(field: number, value: number): void {
    this.#word.writeUInt32LE(value >>> 0, 0);
    writeSync(this.#fd, this.#word, 0, 4, LOCK_TABLE_OFFSET + this.#slot * LOCK_SLOT_BYTES + field);
  }

  #readTable(): Buffer {
    readSync(this.#fd, this.#table, 0, this.#table.length, LOCK_TABLE_OFFSET);
    return this.#table;
  }

  /** Takes the lock, waiting at most `timeoutMs`. */
  acquire(): BakeryAcquire {
    const me = this.#slot;
    // Doorway: take a number larger than every number in the table.
    this.#writeField(CHOOSING, 1);
    let t = this.#readTable();
    let max = 0;
    for (let j = 0; j < LOCK_SLOTS; j++) max = Math.max(max, t.readUInt32LE(j * LOCK_SLOT_BYTES + NUMBER));
    // Numbers only grow while instances overlap; wrapping would take 4e9 overlapping turns.
    this.#number = max >= 0xfffffff0 ? 1 : max + 1;
    this.#writeField(NUMBER, this.#number);
    this.#writeField(CHOOSING, 0);
    const start = monotonicMs();
    let backoff = 0.02;
    const blockedSince = new Map<number, number>();
    for (;;) {
      t = this.#readTable();
      let blocker = -1;
      for (let j = 0; j < LOCK_SLOTS; j++) {
        if (j === me) continue;
        const off = j * LOCK_SLOT_BYTES;
        const pid = t.readUInt32LE(off + PID);
        if (pid === 0) continue;
        const choosing = t.readUInt32LE(off + CHOOSING);
        const number = t.readUInt32LE(off + NUMBER);
        const waitsForJ = choosing !== 0 || (number !== 0 && (number < this.#number || (number === this.#number && j < me)));
        if (!waitsForJ) continue;
        const seen = `${pid}:${choosing}:${number}`;
        if (this.#ignored.get(j) === seen) continue;
        if (!pidAlive(pid)) continue;
        blocker = j;
        const now = monotonicMs();
        const since = blockedSince.get(j);
        if (since === undefined) blockedSince.set(j, now);
        else if (now - since >= this.#opts.staleMs) {
          this.#ignored.set(j, seen);
          blocker = -1;
          continue;
        }
        break;
      }
      if (blocker < 0) return { ok: true };
      if (monotonicMs() - start >= this.#opts.timeoutMs) {
        this.release();
        return { ok: false, detail: `lock table slot ${blocker} held for over ${this.#opts.timeoutMs} ms` };
      }
      sleepMs(backoff);
      backoff = Math.min(backoff * 2, 0.05);
    }
  }

  /** Releases the lock. Lock needs: held (or acquiring). */
  release(): void {
    this.#writeField(NUMBER, 0);
  }

  /** Gives the slot back; at exit. */
  free(): void {
    const zero = Buffer.alloc(LOCK_SLOT_BYTES);
    try {
      writeSync(this.#fd, zero, 0, LOCK_SLOT_BYTES, LOCK_TABLE_OFFSET + this.#slot * LOCK_SLOT_BYTES);
    } catch {
      // The file may be gone; nothing to give back then.
    }
  }
}
