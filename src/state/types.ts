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
  /** Bit flags (balance/tiers.ts: DRAINED). */
  flags: number;
}

export interface BalanceState {
  /** Picks made since the state was created. */
  seq: number;
  /** When the counters were last reset (ms since the epoch). */
  statsSince: number;
  transports: TransportCounters[];
  /** Bumped by every change of the trouble region; 0 while there is none. */
  troubleGen: number;
  /** Warming transports' stages and day counts (balance/warmup.ts), by transport id; [] when none warms. */
  warmup: WarmupRecord[];
}

/** What postbal feedback (or an administrator) found about one transport. */
export interface TransportHealth {
  /** Low 32 bits of the hash of the transport's value, as in the header. */
  id: number;
  down: boolean;
  /** Consecutive connection failures seen. */
  failures: number;
  /** Down: since when. Up: since when it is back (its ramp starts there); 0: never down. */
  sinceMs: number;
  /** Down: when a trial may take traffic again. */
  retryAtMs: number;
  /** Back up: how long its ramp to full weight lasts (feedback_ramp when it came back). */
  rampMs: number;
}

/** A transport suspended for one destination (provider or domain). */
export interface Suspension {
  id: number;
  destination: string;
  untilMs: number;
  reason: string;
}

/**
 * The trouble region: health per transport and suspensions. Written by
 * `postbal feedback` and the control commands under the lock; read by
 * instances when the header's troubleGen changed.
 */
export interface TroubleState {
  health: TransportHealth[];
  suspensions: Suspension[];
}

/** A 53-bit key hash (balance/hash.ts): hi * 2^32 + lo. */
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

/** One warming transport's (or provider group's) warm-up: its stage and today's count (balance/warmup.ts). */
export interface WarmupRecord {
  /** Low 32 bits of the hash of the transport's value (as drain marks). */
  id: number;
  /** 0-based: the schedule's index in force; schedule.length or more: warmed, no cap. */
  stage: number;
  /** The local day number `count` belongs to (localDay); 0 before the first answer. */
  day: number;
  /** New answers given on `day`. */
  count: number;
  /** When it started warming (ms since the epoch; its first answer, or the last stage reset). */
  sinceMs: number;
}
