import { MemoryStateStore } from './memory-store.js';
import type { BalanceState } from './types.js';
import type { PoolConfig } from '../config/types.js';

export interface FallbackOptions {
  readonly path: string;
  readonly memoTtlSec: number;
  readonly memoSlots: number;
  /** While in memory, how long before the file is tried again. */
  readonly retryMs: number;
  readonly warn: (message: string) => void;
  readonly info: (message: string) => void;
}

/** What the file last held for this pool: memory starts from it, so the sequence goes on. */
export interface LastGood {
  readonly fingerprint: number;
  readonly state: BalanceState;
  readonly pool: PoolConfig;
}

/**
 * Serving from memory while the state file cannot be used: entered with one
 * warning per outage and left with one line when the file works again, so
 * the log shows every outage and every recovery. While in memory the file is
 * tried again every `retryMs`.
 */
export class MemoryFallback {
  readonly #opts: FallbackOptions;
  #store: MemoryStateStore | undefined;
  #sinceMs = 0;

  constructor(opts: FallbackOptions) {
    this.#opts = opts;
  }

  /** The memory store while it serves and the file is not yet due for a retry. */
  serving(nowMs: number): MemoryStateStore | undefined {
    return this.#store !== undefined && nowMs - this.#sinceMs < this.#opts.retryMs ? this.#store : undefined;
  }

  /** Why memory serves, when it does (an outage not yet over). */
  get reason(): string | undefined {
    return this.#store?.info().reason;
  }

  /** The file failed (again): memory serves from now for `retryMs`; logs the start of an outage. */
  enter(reason: string, nowMs: number, lastGood: LastGood | undefined, pool: PoolConfig): MemoryStateStore {
    if (!this.#store) {
      this.#opts.warn(`${reason}; serving from memory (not shared with other instances) until it is fixed`);
      this.#store = new MemoryStateStore({
        memoTtlSec: this.#opts.memoTtlSec,
        memoSlots: this.#opts.memoSlots,
        reason,
        ...(lastGood?.fingerprint === pool.fingerprint ? { seed: lastGood } : {}),
      });
    }
    this.#sinceMs = nowMs;
    return this.#store;
  }

  /** A transaction on the file succeeded: ends an outage, with a line saying so. */
  leave(): void {
    if (!this.#store) return;
    this.#store = undefined;
    this.#opts.info(`${this.#opts.path}: state file usable again; sharing with other instances resumed`);
  }
}
