import type { PoolConfig } from '../../config/types.js';
import { LEASE_WARMUP, type BalanceState, type CountingRule, type LimitRecord } from '../types.js';
import { limitRecord } from './rate.js';
import { hashKey, hashLo } from '../../keys/hash.js';
import type { EligibilityRule } from '../types.js';
import { destinationOf } from './suspension.js';
import { countAnswer, localTimeCached, mayAnswer, newRecord, rollDay, stageCap, type LocalTime, type WarmupRecord } from '../warmup.js';

/**
 * Warm-up caps as an eligibility reason: a warming transport that has given
 * today's (paced) cap of new answers is skipped; the others take the mail at
 * their weights, then the next tier, then `fallback`, as for drains. For
 * mail to other domains it is a flag bit in the shared header, recomputed
 * under the lock by every transaction from the warm-up records
 * (balance/warmup.ts), so every instance sees the same caps and a cap is
 * exact across all of them. With `warmup_provider` groups, a transport warms
 * for each provider apart (a provider judges an IP on all its domains): a
 * key of a provider's domain is judged by that provider's count.
 *
 * On a fleet host the cap is the fleet's: the stage is the fleet's (set by
 * the fleet agent) and the host gives only what the agent leased for today
 * (a LEASE_WARMUP limit record); yesterday's lease is void at midnight.
 */

/** Flag bit in the state: a warming transport at its cap for now, for domains outside every provider group (derived, rewritten by each transaction). */
export const CAPPED = 2;

export const warmupRule: EligibilityRule = {
  name: 'warm-up cap',
  // Like a drain: all capped means the next tier, then fallback, never a capped answer.
  automatic: false,
  factor: (_member, facts) => ((facts.flags & CAPPED) !== 0 ? 0 : 1),
};

interface Warming {
  readonly member: number;
  /** Record id per group: [0] other domains, [g] provider group g. */
  readonly ids: readonly number[];
  readonly schedule: readonly number[];
}

/** Stage changes and the like, for the log (after the replies). */
export type WarmupLog = (level: 'info' | 'warning', line: string) => void;

/** The id of a transport's record for provider group `group` (0: other domains; the id drain marks use). */
export function warmupRecordId(pool: PoolConfig, member: number, group: number): number {
  return group === 0 ? hashLo(pool.memberHashes[member]!) : hashLo(hashKey(`${pool.transports[member]!.value}\u0000${pool.warmupProviders[group - 1]![0]}`));
}

/**
 * The warm-up bookkeeping of one pool inside transactions, as a counting
 * rule of the selection (balance/select.ts). Lock needs: every method but
 * groupOf and overrideFor runs inside a transaction on its `state`.
 */
export class WarmupCaps implements CountingRule {
  readonly rule = warmupRule;
  readonly flag = CAPPED;
  readonly keepsRemembered = true;
  readonly #pool: PoolConfig;
  readonly #warming: readonly Warming[];
  readonly #log: WarmupLog;
  readonly #groups: number;
  /** Per member, per group: its record's index in state.warmup during this transaction, or -1. */
  readonly #slot: number[][];
  /** Per group, per member: at its cap (group 0 is also the CAPPED flag). */
  readonly #capped: boolean[][];
  readonly #byMember: (Warming | undefined)[];
  /** Each provider domain and its group (1, 2, …). */
  readonly #providerOf: ReadonlyMap<string, number>;
  readonly #fleet: boolean;
  #now: LocalTime = { day: 0, hour: 0 };
  #nowMs = 0;
  /** Bumped whenever a provider group's caps change (a cache key for eligibility). */
  version = 0;

  constructor(pool: PoolConfig, log: WarmupLog) {
    this.#pool = pool;
    this.#log = log;
    this.#groups = pool.warmupProviders.length + 1;
    this.#warming = pool.transports.flatMap((t, member) => (t.warmup
      ? [{ member, schedule: t.warmup, ids: Array.from({ length: this.#groups }, (_, g) => warmupRecordId(pool, member, g)) }]
      : []));
    this.#slot = pool.transports.map(() => new Array<number>(this.#groups).fill(-1));
    this.#capped = Array.from({ length: this.#groups }, () => pool.transports.map(() => false));
    this.#byMember = pool.transports.map((_, i) => this.#warming.find((w) => w.member === i));
    this.#providerOf = new Map(pool.warmupProviders.flatMap((domains, g) => domains.map((d) => [d, g + 1] as const)));
    this.#fleet = pool.fleet !== undefined;
  }

  get active(): boolean {
    return this.#warming.length > 0;
  }

  /** The provider group of `key` (by its domain or a parent of it) when this pool warms per provider, else 0. Lock needs: none. */
  groupOf(key: string): number {
    if (this.#groups === 1 || !this.active) return 0;
    const domain = destinationOf(this.#providerOf, key);
    return domain === undefined ? 0 : this.#providerOf.get(domain)!;
  }

  /**
   * At the start of a transaction: keeps only the records of transports that
   * warm now, turns each to today (advancing or repeating its stage) and sets
   * or clears the caps. Without warming transports, clears stray flags.
   */
  begin(state: BalanceState, nowMs: number): void {
    if (!this.active) {
      if (state.warmup.length > 0) state.warmup = [];
      if (state.limits.some((l) => l.kind === LEASE_WARMUP)) state.limits = state.limits.filter((l) => l.kind !== LEASE_WARMUP);
      for (const t of state.transports) if ((t.flags & CAPPED) !== 0) t.flags &= ~CAPPED;
      return;
    }
    this.#nowMs = nowMs;
    this.#now = localTimeCached(nowMs);
    const records: WarmupRecord[] = [];
    for (const w of this.#warming) {
      for (let g = 0; g < this.#groups; g++) {
        const id = w.ids[g]!;
        const rolled = rollDay(state.warmup.find((r) => r.id === id) ?? newRecord(id), w.schedule, this.#now);
        if (rolled.advanced) this.#logStage(w, g, rolled.advanced);
        this.#slot[w.member]![g] = records.length;
        records.push(rolled.record);
        this.#setCapped(state, w, g, rolled.record);
      }
    }
    state.warmup = records;
    if (this.#fleet) this.#voidOldLeases(state, records);
  }

  /** Drops the leases of transports no longer warming; a lease granted for another day gives nothing today. */
  #voidOldLeases(state: BalanceState, records: readonly WarmupRecord[]): void {
    const ids = new Set(records.map((r) => r.id));
    if (state.limits.some((l) => l.kind === LEASE_WARMUP && !ids.has(l.id))) state.limits = state.limits.filter((l) => l.kind !== LEASE_WARMUP || ids.has(l.id));
    for (const l of state.limits) if (l.kind === LEASE_WARMUP && l.tat !== this.#now.day) l.lease = 0;
  }

  /** The fleet lease of a warm-up record (fleet hosts only). */
  #lease(state: BalanceState, id: number): LimitRecord {
    return limitRecord(state, id, LEASE_WARMUP);
  }

  overrideFor(key: string): { readonly name: string; readonly members: readonly boolean[] } | undefined {
    const group = this.groupOf(key);
    const members = this.cappedFor(group);
    return members && { name: `${group}:${this.version}`, members };
  }

  counted(state: BalanceState, member: number, key: string): boolean {
    return this.picked(state, member, this.groupOf(key)) === 'flags';
  }

  /** The members capped for provider group `group` when they differ from other domains' (the CAPPED flags), else undefined. */
  cappedFor(group: number): readonly boolean[] | undefined {
    if (group === 0) return undefined;
    const mine = this.#capped[group]!;
    const base = this.#capped[0]!;
    return mine.some((c, i) => c !== base[i]) ? mine : undefined;
  }

  /**
   * Counts a new answer by `member` for a key of provider group `group`.
   * @returns 'flags' when its CAPPED flag was just set (the caller brings its
   * view up to date), 'group' when a provider's cap was, else false
   */
  picked(state: BalanceState, member: number, group: number): 'flags' | 'group' | false {
    const w = this.#byMember[member];
    if (w === undefined) return false;
    const rec = state.warmup[this.#slot[member]![group]!]!;
    const first = rec.sinceMs <= 0 && rec.stage === 0;
    countAnswer(rec, this.#now, this.#nowMs);
    if (this.#fleet) {
      const lease = this.#lease(state, rec.id);
      lease.lease = Math.max(0, lease.lease - 1);
      lease.used++;
    }
    if (first) this.#log('info', `warm-up: ${this.#pool.transports[member]!.value} starts warming${this.#for(group)}: stage 1 of ${w.schedule.length}, ${w.schedule[0]} a day`);
    if (!this.#setCapped(state, w, group, rec)) return false;
    if (group === 0) return 'flags';
    // Caps for other domains are logged by the view, as every exclusion is; a provider's here.
    this.#log('info', `warm-up: ${this.#pool.transports[member]!.value} at its cap${this.#for(group)} (${rec.count} today); the other transports take that mail`);
    return 'group';
  }

  #for(group: number): string {
    return group === 0 ? (this.#groups > 1 ? ' for other domains' : '') : ` for ${this.#pool.warmupProviders[group - 1]!.join(' ')}`;
  }

  /** @returns true when the member just became capped for the group */
  #setCapped(state: BalanceState, w: Warming, group: number, rec: WarmupRecord): boolean {
    const capped = this.#fleet
      ? stageCap(w.schedule, rec.stage) !== undefined && this.#lease(state, rec.id).lease <= 0
      : !mayAnswer(rec, w.schedule, this.#now);
    const was = this.#capped[group]![w.member]!;
    this.#capped[group]![w.member] = capped;
    if (group === 0) {
      const t = state.transports[w.member]!;
      if (capped) t.flags |= CAPPED;
      else t.flags &= ~CAPPED;
    } else if (capped !== was) {
      this.version++;
    }
    return capped && !was;
  }

  #logStage(w: Warming, group: number, a: { from: number; to: number; count: number; cap: number }): void {
    const value = this.#pool.transports[w.member]!.value;
    const next = stageCap(w.schedule, a.to);
    this.#log('info', `warm-up: ${value}${this.#for(group)} sent ${a.count} of ${a.cap} on its last day: stage ${a.from + 1} -> ${next === undefined ? 'warmed (no cap from now on)' : `${a.to + 1} of ${w.schedule.length}, ${next} a day`}`);
  }
}
