import type { PoolConfig } from '../config/types.js';
import { monotonicMs } from '../clock.js';
import type { FileStateStore } from './file-store.js';
import type { PendingTally } from './tally.js';
import type { BalanceState, MemoAccess, StateStore, StoreInfo, TroubleAccess, TroubleState } from './types.js';

/**
 * The daemon's state: positions and counters held in the process, written
 * to the state file shortly after (write-behind), so one lookup costs no
 * lock and no write on its way to the reply, only a lock-free read of the
 * header to see that no one else wrote it.
 *
 * The file stays the truth that spawned instances, `drain`, feedback and
 * `status` share. When the header differs from what this process last
 * wrote (a drain, feedback's generation, a spawned instance's picks), the
 * picks held back are added to the file's state under the lock (each
 * counter by what this process changed: smooth weighted round robin's
 * positions add up the same way), and that lookup is decided under the
 * lock like any instance's. A pool with warm-up caps is always decided
 * under the lock: a cap must hold across processes to the last message.
 *
 * SIGKILL loses at most the picks of the last `delayMs` from the counters,
 * never an answer.
 */

/** The picks of this process not yet in the file: the state now and as last written. */
interface Held {
  readonly pool: PoolConfig;
  readonly state: BalanceState;
  readonly trouble: TroubleState;
  /** The header as this process last read or wrote it. */
  base: BalanceState;
  dirty: boolean;
}

function copyState(s: BalanceState): BalanceState {
  return { ...s, transports: s.transports.map((t) => ({ ...t })), warmup: s.warmup.map((w) => ({ ...w })), limits: s.limits.map((l) => ({ ...l })) };
}

/** Same counters and marks (warm-up records aside: pools with caps never take this path). */
export function sameHeader(a: BalanceState, b: BalanceState): boolean {
  if (a.seq !== b.seq || a.statsSince !== b.statsSince || a.troubleGen !== b.troubleGen || a.transports.length !== b.transports.length) return false;
  return a.transports.every((t, i) => {
    const u = b.transports[i]!;
    return t.current === u.current && t.picks === u.picks && t.repeats === u.repeats && t.flags === u.flags;
  });
}

/** Adds to `file` what this process changed from `base` to `own`: picks, repeats, positions, the sequence. */
export function addHeldChanges(file: BalanceState, base: BalanceState, own: BalanceState): void {
  file.seq += own.seq - base.seq;
  file.transports.forEach((t, i) => {
    const o = own.transports[i];
    const b = base.transports[i];
    if (!o || !b) return;
    t.current += o.current - b.current;
    t.picks += o.picks - b.picks;
    t.repeats += o.repeats - b.repeats;
  });
}

/** How often the header is read to see whether another process wrote it (ms). */
const PEEK_EVERY_MS = 1;

const NO_REPLACE = (): never => {
  throw new Error('write-behind state: the trouble region is changed under the lock only');
};

export class WriteBehindStore implements StateStore {
  readonly #file: FileStateStore;
  readonly #delayMs: number;
  #held: Held | undefined;
  #timer: NodeJS.Timeout | undefined;
  #peekedAt = -Infinity;
  readonly #clock: () => number;

  constructor(file: FileStateStore, delayMs: number, clock: () => number = monotonicMs) {
    this.#file = file;
    this.#delayMs = delayMs;
    this.#clock = clock;
  }

  get tally(): PendingTally {
    return this.#file.tally;
  }

  info(): StoreInfo {
    return this.#file.info();
  }

  transact<T>(pool: PoolConfig, fn: (state: BalanceState, trouble: TroubleAccess) => T): T {
    const held = this.#held;
    if (held?.pool === pool && !held.pool.transports.some((t) => t.warmup || t.rate) && !held.pool.fleet && this.#unchanged(pool, held)) {
      const result = fn(held.state, { current: held.trouble, replace: NO_REPLACE });
      held.dirty = true;
      this.#timer ??= setTimeout(() => this.write(), this.#delayMs).unref();
      return result;
    }
    return this.#locked(pool, fn);
  }

  /**
   * Whether the file still holds what this process last wrote: read at most
   * once per PEEK_EVERY_MS (a read per lookup was a fifth of a one-at-a-time
   * lookup's time), so another writer's change is seen within that time, as
   * a spawned instance sees it from its next lookup.
   */
  #unchanged(pool: PoolConfig, held: Held): boolean {
    const now = this.#clock();
    if (now - this.#peekedAt < PEEK_EVERY_MS) return true;
    const file = this.#file.peekState(pool);
    if (!file || !sameHeader(file, held.base)) return false;
    this.#peekedAt = now;
    return true;
  }

  /** Under the lock: the held picks added first, then `fn`; what is written is held next. */
  #locked<T>(pool: PoolConfig, fn: (state: BalanceState, trouble: TroubleAccess) => T, held = this.#takeHeld()): T {
    if (held && held.pool !== pool) {
      const old = held;
      this.#file.transact(old.pool, (state) => addHeldChanges(state, old.base, old.state));
      held = undefined;
    }
    let adopted: Held | undefined;
    const adding = held;
    const result = this.#file.transact(pool, (state, trouble) => {
      if (adding) addHeldChanges(state, adding.base, adding.state);
      const r = fn(state, trouble);
      adopted = { pool, state: copyState(state), trouble: trouble.current, base: copyState(state), dirty: false };
      return r;
    });
    if (this.#file.info().kind === 'file') {
      this.#held = adopted;
      this.#peekedAt = this.#clock();
    } else {
      // Memory served (the lock busy, the file unusable): the held picks wait for the file.
      this.#held = adding;
      if (adding) this.#timer = setTimeout(() => this.write(), this.#delayMs).unref();
    }
    return result;
  }

  #takeHeld(): Held | undefined {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const held = this.#held;
    this.#held = undefined;
    return held?.dirty ? held : undefined;
  }

  /** Writes the held picks now (the timer, a flush, the end). */
  write(): void {
    const held = this.#takeHeld();
    if (!held) return;
    try {
      this.#locked(held.pool, () => undefined, held);
    } catch {
      // Counters only: every answer went out.
    }
  }

  memo(pool: PoolConfig, expectedOps: number): MemoAccess {
    return this.#file.memo(pool, expectedOps);
  }

  peekFlags(pool: PoolConfig): { readonly flags: readonly number[]; readonly troubleGen: number } | undefined {
    return this.#file.peekFlags(pool);
  }

  flushTally(pool: PoolConfig): boolean {
    this.write();
    return this.#file.flushTally(pool);
  }

  close(): void {
    this.write();
    this.#file.close();
  }
}
