import { PendingTally } from './tally.js';
import type { PoolConfig } from '../config/types.js';
import { BufferSlotIO, MemoTable } from './memo.js';
import { MEMO_SLOT_BYTES } from './layout.js';
import { carryOver, freshState } from './codec.js';
import { hashLo } from '../keys/hash.js';
import type { BalanceState, MemoAccess, StateStore, StoreInfo, TroubleAccess, TroubleState } from './types.js';
import { emptyTrouble, nextTroubleGen } from './trouble-codec.js';

/**
 * State kept in this process only: used when the state file cannot or must
 * not be used, and with `--state none`. Sharing with other instances is lost,
 * balancing within this process stays exact.
 */
export class MemoryStateStore implements StateStore {
  /** Nowhere to add it: a memory store is not shared. */
  readonly tally = new PendingTally();
  readonly #memoTtlSec: number;
  readonly #memoSlots: number;
  readonly #reason: string | undefined;
  #fingerprint: number | undefined;
  #pool: PoolConfig | undefined;
  #state: BalanceState | undefined;
  #memo: BufferSlotIO;
  #trouble: TroubleState = emptyTrouble();

  constructor(opts: { memoTtlSec: number; memoSlots: number; reason?: string; seed?: { fingerprint: number; state: BalanceState; pool: PoolConfig } }) {
    this.#memoTtlSec = opts.memoTtlSec;
    this.#memoSlots = opts.memoSlots;
    this.#reason = opts.reason;
    this.#memo = new BufferSlotIO(Buffer.alloc(opts.memoSlots * MEMO_SLOT_BYTES));
    if (opts.seed) {
      this.#fingerprint = opts.seed.fingerprint;
      this.#state = opts.seed.state;
      this.#pool = opts.seed.pool;
    }
  }

  flushTally(): boolean {
    return true;
  }

  info(): StoreInfo {
    return this.#reason === undefined ? { kind: 'memory', path: undefined } : { kind: 'memory', path: undefined, reason: this.#reason };
  }

  #forPool(pool: PoolConfig): BalanceState {
    if (this.#state === undefined || this.#fingerprint !== pool.fingerprint) {
      const old = this.#state && this.#pool
        ? { fingerprint: this.#fingerprint!, memoSlots: 0, state: this.#state, ids: this.#pool.memberHashes.map(hashLo), warmupCorrupt: false }
        : undefined;
      this.#state = old ? carryOver(old, pool, Date.now()) : freshState(pool.transports.length, Date.now());
      this.#fingerprint = pool.fingerprint;
      this.#pool = pool;
      this.#memo = new BufferSlotIO(Buffer.alloc(this.#memoSlots * MEMO_SLOT_BYTES));
    }
    return this.#state;
  }

  transact<T>(pool: PoolConfig, fn: (state: BalanceState, trouble: TroubleAccess) => T): T {
    const state = this.#forPool(pool);
    return fn(state, {
      current: this.#trouble,
      replace: (next) => {
        this.#trouble = next;
        state.troubleGen = nextTroubleGen(state.troubleGen);
      },
    });
  }

  memo(pool: PoolConfig): MemoAccess {
    this.#forPool(pool);
    return new MemoTable(this.#memo, this.#memoTtlSec, pool.transports.length);
  }

  peekFlags(pool: PoolConfig): { flags: readonly number[]; troubleGen: number } {
    const state = this.#forPool(pool);
    return { flags: state.transports.map((t) => t.flags), troubleGen: state.troubleGen };
  }

  close(): void {}
}
