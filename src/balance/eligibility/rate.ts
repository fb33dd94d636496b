import type { PoolConfig } from '../../config/types.js';
import { hashLo } from '../../keys/hash.js';
import { rateAllows, rateTake, type Rate } from '../rate.js';
import { LIMIT_RATE, type BalanceState, type CountingRule, type EligibilityRule, type LimitRecord } from '../types.js';

/**
 * `rate=N/PERIOD` as an eligibility reason: a transport at its rate is
 * skipped as a warm-up cap skips one (the others take the mail at their
 * weights, then the next tier, then `fallback`). Host-wide, the GCRA's time
 * lives in the state file's limits table and moves under the lock, so every
 * instance of the host shares one rate. On a fleet host the rate is the
 * fleet's: the host gives only what its fleet agent leased (fleet/agent.ts),
 * and with nothing leased (the store away, or the agent not running) the
 * transport is skipped: a quota is never exceeded.
 */

/** Flag bit in the state: at its rate now (derived, rewritten by each transaction). */
export const RATED = 4;

export const rateRule: EligibilityRule = {
  name: 'rate limit',
  automatic: false,
  factor: (_member, facts) => ((facts.flags & RATED) !== 0 ? 0 : 1),
};

interface Rated {
  readonly member: number;
  readonly id: number;
  readonly rate: Rate;
}

/** Finds (or adds) the limit record of `id` and `kind`. */
export function limitRecord(state: BalanceState, id: number, kind: number): LimitRecord {
  let r = state.limits.find((l) => l.id === id && l.kind === kind);
  if (!r) {
    r = { id, kind, lease: 0, used: 0, tat: 0 };
    state.limits.push(r);
  }
  return r;
}

export class RateLimits implements CountingRule {
  readonly rule = rateRule;
  readonly flag = RATED;
  readonly keepsRemembered = true;
  readonly #rated: readonly Rated[];
  readonly #byMember: (Rated | undefined)[];
  readonly #fleet: boolean;
  #nowMs = 0;

  constructor(pool: PoolConfig) {
    this.#rated = pool.transports.flatMap((t, member) => (t.rate ? [{ member, id: hashLo(pool.memberHashes[member]!), rate: t.rate }] : []));
    this.#byMember = pool.transports.map((_, i) => this.#rated.find((r) => r.member === i));
    this.#fleet = pool.fleet !== undefined;
  }

  /** Keeps the records of rated transports (and every other kind's), sets or clears the flags. */
  begin(state: BalanceState, nowMs: number): void {
    this.#nowMs = nowMs;
    const ids = new Set(this.#rated.map((r) => r.id));
    if (state.limits.some((l) => l.kind === LIMIT_RATE && !ids.has(l.id))) state.limits = state.limits.filter((l) => l.kind !== LIMIT_RATE || ids.has(l.id));
    for (const t of state.transports) if ((t.flags & RATED) !== 0) t.flags &= ~RATED;
    for (const r of this.#rated) this.#setFlag(state, r, limitRecord(state, r.id, LIMIT_RATE));
  }

  overrideFor(): undefined {
    return undefined;
  }

  counted(state: BalanceState, member: number): boolean {
    const r = this.#byMember[member];
    if (r === undefined) return false;
    const rec = limitRecord(state, r.id, LIMIT_RATE);
    if (this.#fleet) {
      rec.lease = Math.max(0, rec.lease - 1);
      rec.used++;
    } else {
      rec.tat = rateTake(r.rate, rec.tat, this.#nowMs);
    }
    const was = (state.transports[member]!.flags & RATED) !== 0;
    return this.#setFlag(state, r, rec) && !was;
  }

  /** @returns whether the member is at its rate now */
  #setFlag(state: BalanceState, r: Rated, rec: LimitRecord): boolean {
    const limited = this.#fleet ? rec.lease <= 0 : !rateAllows(r.rate, rec.tat, this.#nowMs);
    const t = state.transports[r.member]!;
    if (limited) t.flags |= RATED;
    else t.flags &= ~RATED;
    return limited;
  }
}
