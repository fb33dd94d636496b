import type { PoolConfig } from '../config/types.js';
import { EligibilityView } from './eligibility/view.js';
import { WarmupCaps } from './eligibility/warmup.js';
import { RateLimits } from './eligibility/rate.js';
import type { Algorithm, BalanceState, CountingRule, PickInput, TroubleState } from './types.js';

/**
 * The selection of one pool: which member answers each new key of a burst,
 * and whether a remembered answer still stands. A function of the state,
 * the trouble region, the counting rules' records (in the state), the keys
 * and the time; the view and the rules only cache what they derive from
 * them. Every rule plugs in here: eligibility rules through the view,
 * counting rules (warm-up caps, rate limits) through CountingRule, so
 * the lookup handler knows none of them.
 */

type Log = (level: 'info' | 'warning', line: string) => void;

export class Selection {
  readonly pool: PoolConfig;
  readonly #view: EligibilityView;
  readonly #rules: readonly CountingRule[];
  /** Rules whose exclusions never make a remembered answer stale, by name. */
  readonly #keeping: ReadonlySet<string>;

  constructor(pool: PoolConfig, log: Log, rules?: readonly CountingRule[]) {
    this.pool = pool;
    this.#view = new EligibilityView(pool, log);
    this.#rules = rules ?? [new WarmupCaps(pool, log), new RateLimits(pool)];
    this.#keeping = new Set(this.#rules.filter((r) => r.keepsRemembered).map((r) => r.rule.name));
  }

  /** The trouble generation the view has loaded: a peek that sees another needs a transaction. */
  get troubleGen(): number {
    return this.#view.troubleGen;
  }

  /** Lock-free: the view brought up to date from flags peeked in the header (same trouble generation). */
  peeked(flags: readonly number[], troubleGen: number, nowMs: number): void {
    this.#view.update(flags, troubleGen, undefined, nowMs);
  }

  /**
   * Of the keys `remembered` (indices into `keys`) answered by `members`
   * (per key index), those whose member may not answer that key now: a
   * drain, a member down or suspended for the key's destination, or a better
   * tier back applies from the next lookup; a counting rule that keeps
   * remembered answers does not. Call after `peeked` or `begin`.
   */
  stale(keys: readonly string[], remembered: readonly number[], members: readonly (number | undefined)[], nowMs: number): number[] {
    if (remembered.length === 0) return [];
    return remembered.filter((i) => {
      const e = this.#view.forKey(keys[i]!, nowMs);
      const m = members[i]!;
      return !e.members[m] && !this.#keeping.has(e.excludedBy[m] ?? '');
    });
  }

  /** Inside a transaction, first: the counting rules' records turned to now, the view brought up to date. */
  begin(state: BalanceState, trouble: TroubleState, nowMs: number): void {
    for (const r of this.#rules) r.begin(state, nowMs);
    this.#view.update((t) => state.transports[t]!.flags, state.troubleGen, trouble, nowMs);
  }

  /**
   * Inside a transaction, after `begin`: a member for each key of `fresh`
   * (indices into `keys`; -1 when none may answer), each answer counted in
   * `state` (picks, sequence, scores, counting rules) so the next key of the
   * burst sees it.
   */
  pick(state: BalanceState, algorithm: Algorithm, random: () => number, keys: readonly string[], keyHashes: readonly number[], fresh: readonly number[], nowMs: number): number[] {
    const input: { -readonly [K in keyof PickInput]: PickInput[K] } = {
      current: state.transports.map((t) => t.current),
      keyHash: 0,
      memberHashes: this.pool.memberHashes,
      random,
    };
    const flags = (t: number): number => state.transports[t]!.flags;
    const picked: number[] = [];
    for (const i of fresh) {
      const key = keys[i]!;
      input.keyHash = keyHashes[i]!;
      const index = algorithm.pick(this.#view.forKey(key, nowMs, this.#override(key)), input);
      picked.push(index);
      if (index < 0) continue;
      state.transports[index]!.picks++;
      state.seq++;
      // A rule that now excludes the member for every key: the burst's next keys go elsewhere.
      let moved = false;
      for (const r of this.#rules) moved = r.counted(state, index, key) || moved;
      if (moved) this.#view.update(flags, state.troubleGen, undefined, nowMs);
    }
    for (let t = 0; t < input.current.length; t++) state.transports[t]!.current = input.current[t]!;
    return picked;
  }

  /** The first counting rule that judges `key` apart from its flag bit. */
  #override(key: string): { name: string; flag: number; members: readonly boolean[] } | undefined {
    for (const r of this.#rules) {
      const o = r.overrideFor(key);
      if (o) return { name: o.name, flag: r.flag, members: o.members };
    }
    return undefined;
  }
}
