import type { PoolConfig } from '../../config/types.js';
import type { BalanceState } from '../../state/types.js';
import { hashLo } from '../hash.js';
import type { EligibilityRule } from '../types.js';
import { countAnswer, localTimeCached, mayAnswer, newRecord, rollDay, stageCap, type LocalTime, type WarmupRecord } from '../warmup.js';

/**
 * Warm-up caps as an eligibility reason: a warming transport that has given
 * today's (paced) cap of new answers is skipped; the others take the mail at
 * their weights, then the next tier, then `fallback`, as for drains. It is a
 * flag bit in the shared header, recomputed under the lock by every
 * transaction from the warm-up records (balance/warmup.ts), so that every
 * instance sees the same caps and a cap is exact across all of them.
 */

/** Flag bit in the state: a warming transport at its cap for now (derived, rewritten by each transaction). */
export const CAPPED = 2;

export const warmupRule: EligibilityRule = {
  name: 'warm-up cap',
  // Like a drain: all capped means the next tier, then fallback, never a capped answer.
  automatic: false,
  factor: (_member, facts) => ((facts.flags & CAPPED) !== 0 ? 0 : 1),
};

interface Warming {
  readonly member: number;
  readonly id: number;
  readonly schedule: readonly number[];
}

/** Stage changes and the like, for the log (after the replies). */
export type WarmupLog = (level: 'info' | 'warning', line: string) => void;

/**
 * The warm-up bookkeeping of one pool inside transactions. Lock needs: every
 * method runs inside a transaction on its `state`.
 */
export class WarmupCaps {
  readonly #pool: PoolConfig;
  readonly #warming: readonly Warming[];
  readonly #log: WarmupLog;
  /** Per member: its record's index in state.warmup during this transaction, or -1. */
  readonly #slot: number[];
  /** Per member: its warm-up, or undefined. */
  readonly #byMember: (Warming | undefined)[];
  #now: LocalTime = { day: 0, hour: 0 };
  #nowMs = 0;

  constructor(pool: PoolConfig, log: WarmupLog) {
    this.#pool = pool;
    this.#log = log;
    this.#warming = pool.transports.flatMap((t, member) => (t.warmup ? [{ member, id: hashLo(pool.memberHashes[member]!), schedule: t.warmup }] : []));
    this.#slot = pool.transports.map(() => -1);
    this.#byMember = pool.transports.map((_, i) => this.#warming.find((w) => w.member === i));
  }

  get active(): boolean {
    return this.#warming.length > 0;
  }

  /**
   * At the start of a transaction: keeps only the records of transports that
   * warm now, turns each to today (advancing or repeating its stage) and sets
   * or clears its CAPPED flag. Without warming transports, clears stray flags.
   */
  begin(state: BalanceState, nowMs: number): void {
    if (!this.active) {
      if (state.warmup.length > 0) state.warmup = [];
      for (const t of state.transports) if ((t.flags & CAPPED) !== 0) t.flags &= ~CAPPED;
      return;
    }
    this.#nowMs = nowMs;
    this.#now = localTimeCached(nowMs);
    const records: WarmupRecord[] = [];
    for (const w of this.#warming) {
      const rolled = rollDay(state.warmup.find((r) => r.id === w.id) ?? newRecord(w.id), w.schedule, this.#now);
      if (rolled.advanced) this.#logStage(w, rolled.advanced);
      this.#slot[w.member] = records.length;
      records.push(rolled.record);
      this.#setCapped(state, w, rolled.record);
    }
    state.warmup = records;
  }

  /**
   * Counts a new answer by `member`. @returns true when its CAPPED flag was
   * just set (the caller brings its eligibility up to date)
   */
  picked(state: BalanceState, member: number): boolean {
    const w = this.#byMember[member];
    if (w === undefined) return false;
    const rec = state.warmup[this.#slot[member]!]!;
    const first = rec.sinceMs <= 0;
    countAnswer(rec, this.#now, this.#nowMs);
    if (first) {
      this.#log('info', `warm-up: ${this.#pool.transports[member]!.value} starts warming: stage 1 of ${w.schedule.length}, ${w.schedule[0]} a day`);
    }
    return this.#setCapped(state, w, rec);
  }

  #setCapped(state: BalanceState, w: Warming, rec: WarmupRecord): boolean {
    const t = state.transports[w.member]!;
    const capped = !mayAnswer(rec, w.schedule, this.#now);
    const was = (t.flags & CAPPED) !== 0;
    if (capped) t.flags |= CAPPED;
    else t.flags &= ~CAPPED;
    return capped && !was;
  }

  #logStage(w: Warming, a: { from: number; to: number; count: number; cap: number }): void {
    const value = this.#pool.transports[w.member]!.value;
    const next = stageCap(w.schedule, a.to);
    this.#log('info', `warm-up: ${value} sent ${a.count} of ${a.cap} on its last day: stage ${a.from + 1} -> ${next === undefined ? 'warmed (no cap from now on)' : `${a.to + 1} of ${w.schedule.length}, ${next} a day`}`);
  }
}
