/** The shared balancing state and the store interface (types only). */
import type { PoolConfig } from '../config/types.js';

// The state that balancing reasons about is declared by balance/, which
// state/ stores: layers point down (test/unit/layers.test.ts).
import type { BalanceState, TroubleState } from '../balance/types.js';
import type { PendingTally } from './tally.js';

export type { BalanceState, TransportCounters, TransportHealth, Suspension, TroubleState, WarmupRecord } from '../balance/types.js';

/** A 53-bit key hash (keys/hash.ts): hi * 2^32 + lo. */
export type KeyHash = number;

/** Remembers recent answers by key hash. */
export interface MemoAccess {
  /** Returns and consumes the remembered transport index for a key, if any. */
  take(hash: KeyHash, nowSec: number): number | undefined;
  /** Remembers `transport` for the next lookup of this key. */
  put(hash: KeyHash, transport: number, nowSec: number): void;
  /** False when there is nowhere to remember (no state file yet, or the memo is off). */
  readonly usable: boolean;
}

export interface StoreInfo {
  readonly kind: 'file' | 'memory';
  readonly path: string | undefined;
  /** Why the store serves from memory, when it was meant to use a file. */
  readonly reason?: string;
  /** Memory serves only because the lock was busy (the file is sound). */
  readonly busy?: boolean;
}

/** The trouble region inside a transaction. */
export interface TroubleAccess {
  /** As of this transaction; shared between transactions: never mutate it, replace it. */
  readonly current: TroubleState;
  /** Sets the trouble region; every instance sees it at its next lookup. */
  replace(next: TroubleState): void;
}

/**
 * Where the shared state lives: the balancing header, changed only under the
 * store's lock, and the repeat memo, whose 16-byte slots are read and written
 * one at a time without the lock (a slot write is atomic, and a lost race
 * only costs one repeat answer, never a position of the sequence).
 */
export interface StateStore {
  info(): StoreInfo;
  /** What this process counted (state/tally.ts); a file store adds it to the file's tally region. */
  readonly tally: PendingTally;
  /**
   * Runs `fn` with exclusive access to the state for `pool` and persists what
   * it changed. Lock needs: takes and releases the lock itself; `fn` must be
   * quick and do no I/O, because other instances wait while it runs.
   */
  transact<T>(pool: PoolConfig, fn: (state: BalanceState, trouble: TroubleAccess) => T): T;
  /**
   * The memo for one batch of `expectedOps` operations (a hint: a file store
   * reads the whole memo region once for a large batch). Lock needs: none.
   */
  memo(pool: PoolConfig, expectedOps: number): MemoAccess;
  /**
   * Each member's flags and the trouble generation, read without the lock
   * (a header is written whole and checked by its CRC), for lookups answered
   * from the memo; undefined when they cannot be read that way (then a
   * transaction reads them).
   */
  /**
   * Adds what `tally` holds to the shared counters now (at exit, since
   * transactions add it at most once a second); false when they cannot take it.
   */
  flushTally(pool: PoolConfig): boolean;
  peekFlags(pool: PoolConfig): { readonly flags: readonly number[]; readonly troubleGen: number } | undefined;
  close(): void;
}

/** How a FileStateStore (state/file-store.ts) is set up. */
export interface FileStoreOptions {
  readonly path: string;
  readonly memoSlots: number;
  readonly memoTtlSec: number;
  /** Called for every warning worth a log line (never per lookup). */
  readonly warn: (message: string) => void;
  /** Called for notices worth a log line (the file usable again); defaults to `warn`. */
  readonly info?: (message: string) => void;
  /** @default DEFAULTS.lockTimeoutMs */
  readonly lockTimeoutMs?: number;
  /** @default DEFAULTS.lockStaleMs */
  readonly lockStaleMs?: number;
  /**
   * For commands that change the state (drain, reset-stats): a file that
   * cannot be used is an error (StateError) instead of a fallback to memory,
   * and a missing directory is not created.
   */
  readonly strict?: boolean;
  /** Monotonic milliseconds, for re-checks and retries. @default monotonicMs */
  readonly monotonicMs?: () => number;
}
