/** The shared balancing state and the store interface (types only). */
import type { PoolConfig } from '../config/types.js';

/** Per-transport counters kept in the state. */
export interface TransportCounters {
  /** Running score of smooth weighted round robin. */
  current: number;
  /** Positions of the sequence this transport answered. */
  picks: number;
  /** Answers repeated for a key seen moments before (no new position used). */
  repeats: number;
  /** Bit flags; reserved for drain marks. */
  flags: number;
}

export interface BalanceState {
  /** Picks made since the state was created. */
  seq: number;
  /** When the counters were last reset (ms since the epoch). */
  statsSince: number;
  transports: TransportCounters[];
}

/** A 53-bit key hash as two halves. */
export interface KeyHash {
  readonly hi: number;
  readonly lo: number;
}

/** Remembers recent answers by key hash. */
export interface MemoAccess {
  /** Returns and consumes the remembered transport index for a key, if any. */
  take(hash: KeyHash, nowSec: number): number | undefined;
  /** Remembers `transport` for the next lookup of this key. */
  put(hash: KeyHash, transport: number, nowSec: number): void;
}

export interface StateTxn {
  readonly state: BalanceState;
  readonly memo: MemoAccess;
}

export interface StoreInfo {
  readonly kind: 'file' | 'memory';
  readonly path: string | undefined;
  /** Why the store serves from memory, when it was meant to use a file. */
  readonly reason?: string;
}

/**
 * Where the shared state lives.
 * `transact` runs `fn` with exclusive access to the state for `pool` and
 * persists whatever it changed; it is the only way to read or change state.
 */
export interface StateStore {
  info(): StoreInfo;
  /**
   * Lock needs: takes and releases the store's lock itself; `fn` must be pure
   * and quick (no I/O), because other instances wait while it runs.
   * @param expectedOps how many memo operations `fn` will make (a hint that
   *   lets a file store read the memo region once for a large batch)
   */
  transact<T>(pool: PoolConfig, expectedOps: number, fn: (txn: StateTxn) => T): T;
  close(): void;
}
