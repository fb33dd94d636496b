import type { PoolConfig } from '../../config/types.js';
import type { TroubleState, TransportHealth } from '../types.js';
import { hashLo } from '../../keys/hash.js';
import type { Eligible, MemberFacts } from '../types.js';
import { describeEligible, describeExcluded } from './describe.js';
import { MANUAL_RULES, RULES, eligibleMembers } from './index.js';
import { destinationOf } from './suspension.js';

/**
 * The members eligible now, as one instance sees the shared state: computed
 * again only when the drain marks or the trouble region change (or, while
 * trouble is known, once a second, as ramps and retry times move on), so a
 * transaction allocates nothing for them. Per key only where a suspension
 * names the key's destination.
 *
 * Automatic rules never leave a key with no answer by themselves: when
 * health and suspensions exclude every member of every tier, the key gets
 * the configured `fallback`, and without one, the members as if no automatic
 * rule applied (drains still hold).
 */
export class EligibilityView {
  readonly #pool: PoolConfig;
  readonly #weights: readonly number[];
  readonly #priorities: readonly number[];
  readonly #ids: readonly number[];
  readonly #log: (level: 'info' | 'warning', line: string) => void;
  #key: { flags: readonly number[]; troubleGen: number; second: number } | undefined;
  #facts: MemberFacts[] = [];
  #base: Eligible | undefined;
  #trouble: TroubleState | undefined;
  #troubleGen = 0;
  /** Suspensions in force at the last update: destination -> ids; undefined when none. */
  #suspended: Map<string, number[]> | undefined;
  /** Per suspended destination, the members eligible for its keys (until the next update). */
  #perDestination = new Map<string, Eligible>();

  constructor(pool: PoolConfig, log: (level: 'info' | 'warning', line: string) => void) {
    this.#pool = pool;
    this.#weights = pool.transports.map((t) => t.weight);
    this.#priorities = pool.transports.map((t) => t.priority);
    this.#ids = pool.memberHashes.map(hashLo);
    this.#log = log;
  }

  /** The trouble generation this view has loaded; a peek that sees another needs a transaction. */
  get troubleGen(): number {
    return this.#troubleGen;
  }

  /**
   * Brings the view up to date; cheap when nothing changed.
   * @param trouble the region for `troubleGen`, or undefined to keep the one loaded (same generation)
   */
  update(flags: ArrayLike<number> | ((i: number) => number), troubleGen: number, trouble: TroubleState | undefined, nowMs: number): Eligible {
    const flagOf = typeof flags === 'function' ? flags : (i: number): number => flags[i]!;
    const count = this.#weights.length;
    if (trouble) this.#trouble = trouble;
    this.#troubleGen = troubleGen;
    const t = this.#trouble;
    const timed = t !== undefined && (t.health.length > 0 || t.suspensions.length > 0);
    const second = timed ? Math.floor(nowMs / 1000) : 0;
    const k = this.#key;
    if (k && this.#base && k.troubleGen === troubleGen && k.second === second && sameFlags(k.flags, flagOf)) return this.#base;
    const health = new Map<number, TransportHealth>((t?.health ?? []).map((h) => [h.id, h]));
    const current = Array.from({ length: count }, (_, i) => flagOf(i));
    this.#facts = current.map((f, i) => {
      const h = health.get(this.#ids[i]!);
      return h ? { flags: f, health: h } : { flags: f };
    });
    const before = this.#base;
    const base = eligibleMembers(this.#weights, this.#priorities, this.#facts, RULES, nowMs);
    this.#key = { flags: current, troubleGen, second };
    this.#base = base;
    this.#perDestination = new Map();
    const active = (t?.suspensions ?? []).filter((x) => x.untilMs > nowMs);
    this.#suspended = active.length === 0 ? undefined : new Map();
    for (const x of active) this.#suspended!.set(x.destination, [...(this.#suspended!.get(x.destination) ?? []), x.id]);
    if (before ? changed(before, base) : base.excludedBy.some((r) => r !== undefined)) {
      this.#log(base.priority === undefined ? 'warning' : 'info', `${describeExcluded(this.#pool, base)}; ${describeEligible(this.#pool, base)}`);
    }
    return base;
  }

  /**
   * The members eligible for lookup key `key` (call update first).
   * `override`: a counting rule's exclusions for this key when they differ
   * from its flag bit (a warm-up provider group's caps), named for the cache.
   */
  forKey(key: string, nowMs: number, override?: FlagOverride): Eligible {
    if (override) return this.#forKeyOverridden(key, nowMs, override);
    let eligible = this.#base!;
    if (this.#suspended) {
      const destination = destinationOf(this.#suspended, key);
      if (destination !== undefined) {
        let e = this.#perDestination.get(destination);
        if (!e) {
          const ids = new Set(this.#suspended.get(destination));
          const facts = this.#facts.map((f, i) => (ids.has(this.#ids[i]!) ? { ...f, suspended: true } : f));
          e = eligibleMembers(this.#weights, this.#priorities, facts, RULES, nowMs);
          this.#perDestination.set(destination, e);
        }
        eligible = e;
      }
    }
    return this.#noneLeft(eligible, this.#facts, nowMs);
  }

  /** As forKey, with a rule's exclusions for this key in place of its flag bit. */
  #forKeyOverridden(key: string, nowMs: number, override: FlagOverride): Eligible {
    const destination = this.#suspended ? destinationOf(this.#suspended, key) : undefined;
    const cacheKey = `${destination ?? ''}\u0000${override.flag}:${override.name}`;
    let e = this.#perDestination.get(cacheKey);
    if (!e) {
      const ids = new Set(destination === undefined ? [] : this.#suspended!.get(destination));
      const facts = this.#facts.map((f, i) => {
        const flags = override.members[i] ? f.flags | override.flag : f.flags & ~override.flag;
        return ids.has(this.#ids[i]!) ? { ...f, flags, suspended: true } : { ...f, flags };
      });
      e = this.#noneLeft(eligibleMembers(this.#weights, this.#priorities, facts, RULES, nowMs), facts, nowMs);
      if (this.#perDestination.size >= MAX_CAPPED_CACHE) this.#perDestination.clear();
      this.#perDestination.set(cacheKey, e);
    }
    return e;
  }

  /** Automatic rules that leave no member and no fallback: the members as if they did not apply. */
  #noneLeft(eligible: Eligible, facts: readonly MemberFacts[], nowMs: number): Eligible {
    if (eligible.priority !== undefined || this.#pool.fallback !== undefined) return eligible;
    if (!eligible.excludedBy.some((r) => r !== undefined && !MANUAL_NAMES.has(r))) return eligible;
    return eligibleMembers(this.#weights, this.#priorities, facts, MANUAL_RULES, nowMs);
  }
}

/** A counting rule's exclusions for one key in place of its flag bit. */
export interface FlagOverride {
  readonly name: string;
  readonly flag: number;
  readonly members: readonly boolean[];
}

/** Per-provider eligibilities kept at most (a cache: cleared when full). */
const MAX_CAPPED_CACHE = 64;

const MANUAL_NAMES = new Set(MANUAL_RULES.map((r) => r.name));

function sameFlags(seen: readonly number[], flagOf: (i: number) => number): boolean {
  for (let i = 0; i < seen.length; i++) if (seen[i] !== flagOf(i)) return false;
  return true;
}

/** Did the set of members or their exclusions change (not just a ramp's weight)? */
function changed(a: Eligible, b: Eligible): boolean {
  if (a.priority !== b.priority) return true;
  for (let i = 0; i < a.members.length; i++) if (a.members[i] !== b.members[i] || a.excludedBy[i] !== b.excludedBy[i]) return true;
  return false;
}
