import { readSync, writeSync } from 'node:fs';
import { monotonicMs } from '../clock.js';
import { holderGone, ownStart, pidAlive, sleepMs } from './peers.js';
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
 * A slot whose holder is gone (a killed instance, its PID free or reused by a
 * process started at another time) is ignored at once. A live holder is
 * waited for: only one unchanged for `staleMs` (stopped or hung, not merely
 * slow on a loaded machine) is ignored, from then on while it stays
 * unchanged, because ignoring a holder that then goes on lets two processes
 * change the header at once and one change is lost (a drain undone).
 */

const PID = 0;
const CHOOSING = 4;
const NUMBER = 8;
const START = 12;

/** What this instance has seen in a slot in its way, kept across acquisitions so a stuck holder's time adds up. */
interface Watched {
  readonly seen: string;
  readonly since: number;
  readonly pid: number;
  readonly start: number;
  /** The PID names a process started at another time (read from /proc once per holder, not per ticket). */
  readonly reused: boolean;
}


export type BakeryAcquire =
  | { readonly ok: true }
  /** `lost`: the slot now belongs to another process (claimed while a stuck sidecar holder was overruled); claim a new one. */
  | { readonly ok: false; readonly detail: string; readonly lost?: true };

export class BakeryLock {
  readonly #fd: number;
  readonly #slot: number;
  readonly #opts: { timeoutMs: number; staleMs: number };
  readonly #table = Buffer.alloc(LOCK_SLOTS * LOCK_SLOT_BYTES);
  readonly #word = Buffer.alloc(4);
  readonly #watched = new Map<number, Watched>();
  readonly #own = Buffer.alloc(LOCK_SLOT_BYTES);
  #readOnce = false;
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
      if (pid === process.pid || pid === 0 || holderGone(pid, table.readUInt32LE(i * LOCK_SLOT_BYTES + START))) {
        free = i;
        break;
      }
    }
    if (free < 0) return undefined;
    const slot = Buffer.alloc(LOCK_SLOT_BYTES);
    slot.writeUInt32LE(process.pid, PID);
    slot.writeUInt32LE(ownStart(), START);
    writeSync(fd, slot, 0, LOCK_SLOT_BYTES, LOCK_TABLE_OFFSET + free * LOCK_SLOT_BYTES);
    return new BakeryLock(fd, free, opts);
  }

  #writeField(field: number, value: number): void {
    this.#word.writeUInt32LE(value >>> 0, 0);
    writeSync(this.#fd, this.#word, 0, 4, LOCK_TABLE_OFFSET + this.#slot * LOCK_SLOT_BYTES + field);
  }

  #readTable(): Buffer {
    this.#readOnce = true;
    readSync(this.#fd, this.#table, 0, this.#table.length, LOCK_TABLE_OFFSET);
    return this.#table;
  }

  /** Takes the lock, waiting at most `timeoutMs`. */
  acquire(): BakeryAcquire {
    const me = this.#slot;
    // Never write into a slot that is no longer ours: its owner's number would be overwritten.
    // A live owner's slot is never claimed, so only two claims at once (the sidecar lock of a
    // stuck holder overruled) can lose it: the table as the last acquisition read it shows that.
    if (!this.#readOnce) this.#readTable();
    const owner = this.#table.readUInt32LE(me * LOCK_SLOT_BYTES + PID);
    if (owner !== process.pid || this.#table.readUInt32LE(me * LOCK_SLOT_BYTES + START) !== ownStart()) {
      return { ok: false, lost: true, detail: `lock table slot ${me} was claimed by pid ${owner}` };
    }
    // The steps run back to back here; a test interleaves them with another process's.
    const steps = this.doorway();
    while (steps.next().done !== true);
    const start = monotonicMs();
    let backoff = 0.02;
    for (;;) {
      const blocker = this.blocker();
      if (blocker < 0) return { ok: true };
      if (monotonicMs() - start >= this.#opts.timeoutMs) {
        this.release();
        return { ok: false, detail: `lock table slot ${blocker} held for over ${this.#opts.timeoutMs} ms` };
      }
      sleepMs(backoff);
      backoff = Math.min(backoff * 2, 0.05);
    }
  }

  /**
   * The bakery's doorway, one step on the shared table per yield (a write,
   * or the read of every number), so that a test can run it interleaved
   * with another process's in every order: raise `choosing`, take a number
   * larger than every number in the table, lower `choosing`.
   */
  *doorway(): Generator<void, void, void> {
    this.#writeField(CHOOSING, 1);
    yield;
    const t = this.#readTable();
    let max = 0;
    for (let j = 0; j < LOCK_SLOTS; j++) max = Math.max(max, t.readUInt32LE(j * LOCK_SLOT_BYTES + NUMBER));
    yield;
    // Numbers only grow while instances overlap; wrapping would take 4e9 overlapping turns.
    this.#number = max >= 0xfffffff0 ? 1 : max + 1;
    this.#writeField(NUMBER, this.#number);
    yield;
    this.#writeField(CHOOSING, 0);
  }

  /** After the doorway: the slot this one must still wait for (one read of the table), or -1 when the lock is its. */
  blocker(): number {
    return this.#blocker(this.#readTable(), this.#slot);
  }

  /** The first slot this one must wait for, or -1. */
  #blocker(t: Buffer, me: number): number {
    for (let j = 0; j < LOCK_SLOTS; j++) {
      if (j === me) continue;
      const off = j * LOCK_SLOT_BYTES;
      const pid = t.readUInt32LE(off + PID);
      if (pid === 0) continue;
      const choosing = t.readUInt32LE(off + CHOOSING);
      const number = t.readUInt32LE(off + NUMBER);
      const waitsForJ = choosing !== 0 || (number !== 0 && (number < this.#number || (number === this.#number && j < me)));
      if (!waitsForJ) continue;
      const holderStart = t.readUInt32LE(off + START);
      const seen = `${pid}:${holderStart}:${choosing}:${number}`;
      const now = monotonicMs();
      let w = this.#watched.get(j);
      if (w?.seen !== seen) {
        const reused = w !== undefined && w.pid === pid && w.start === holderStart ? w.reused : pidAlive(pid) && holderGone(pid, holderStart);
        w = { seen, since: now, pid, start: holderStart, reused };
        this.#watched.set(j, w);
      }
      if (w.reused || !pidAlive(pid) || now - w.since >= this.#opts.staleMs) continue;
      return j;
    }
    return -1;
  }

  /** Releases the lock. Lock needs: held (or acquiring). */
  release(): void {
    this.#writeField(NUMBER, 0);
  }

  /** Gives the slot back (unless it is no longer ours); at exit. */
  free(): void {
    const zero = Buffer.alloc(LOCK_SLOT_BYTES);
    try {
      readSync(this.#fd, this.#own, 0, LOCK_SLOT_BYTES, LOCK_TABLE_OFFSET + this.#slot * LOCK_SLOT_BYTES);
      if (this.#own.readUInt32LE(PID) !== process.pid) return;
      writeSync(this.#fd, zero, 0, LOCK_SLOT_BYTES, LOCK_TABLE_OFFSET + this.#slot * LOCK_SLOT_BYTES);
    } catch {
      // The file may be gone; nothing to give back then.
    }
  }
}
