/**
 * The selection pipeline's parts (types only). For each new key:
 *
 *   candidates (the pool's entries)
 *     -> eligibility: may member T answer key K now, at which weight factor
 *        (each reason one EligibilityRule: drained today; health,
 *        per-destination suspensions, warm-up caps to come)
 *     -> best tier: the lowest priority with an eligible member
 *     -> algorithm: one member of that tier (wrr, random, sticky)
 *     -> memo: the key's next lookup gets the same answer (handler.ts)
 *
 * A rule never picks and an algorithm never judges eligibility, so adding a
 * reason touches no algorithm and adding an algorithm touches no rule.
 */
import type { Algorithm as AlgorithmName } from '../config/types.js';

/** What the rules may read of one member: its counters in the shared state. */
export interface MemberFacts {
  /** Bit flags from the state file (eligibility/drain.ts: DRAINED). */
  readonly flags: number;
  /** What postbal feedback found about it, if anything. */
  readonly health?: TransportHealth;
  /** Suspended for the destination of the key being decided (feedback). */
  readonly suspended?: boolean;
}

/** One reason a member may not answer (or may answer at a reduced weight). */
export interface EligibilityRule {
  /** Names the reason in log lines and status, e.g. `drained`. */
  readonly name: string;
  /**
   * Set by postbal itself (health, suspensions), not by an administrator:
   * such rules never leave a key with no answer by themselves.
   */
  readonly automatic: boolean;
  /**
   * The member's weight factor now: 0 = may not answer, 1 = full weight,
   * between = reduced (a ramp). Pure. Rules that do not depend on the key
   * ignore it; the pipeline then evaluates them once per state, not per key.
   */
  factor(member: number, facts: MemberFacts, nowMs: number): number;
}

/**
 * A rule whose exclusions move with every answer it counts (warm-up caps;
 * rate limits next): kept up to date inside the state transaction, where its
 * records live, and shown to the eligibility view as a flag bit (the same
 * for every key) or, for keys it judges apart, as an override of that bit.
 */
export interface CountingRule {
  /** The EligibilityRule that reads its flag bit (its name in excludedBy). */
  readonly rule: EligibilityRule;
  /** The flag bit it sets in the state for members it excludes for every key. */
  readonly flag: number;
  /**
   * A remembered answer of a member it excludes still stands: the key was
   * counted at its first lookup (a cap counts recipients, not lookups).
   */
  readonly keepsRemembered: boolean;
  /** At the start of a transaction: brings its records to now and sets or clears its flag bits. */
  begin(state: BalanceState, nowMs: number): void;
  /** The members it excludes for `key` when they differ from its flag bits, with a name for caching; else undefined. Lock needs: none. */
  overrideFor(key: string): { readonly name: string; readonly members: readonly boolean[] } | undefined;
  /** Counts a new answer by `member` for `key`. @returns true when its flag bits changed (the view must be brought up to date) */
  counted(state: BalanceState, member: number, key: string): boolean;
}

/** The members that may answer now and their weights: the input of every algorithm. */
export interface Eligible {
  /** The active tier's priority, or undefined when no member is eligible. */
  readonly priority: number | undefined;
  /** One per member: in the active tier and eligible. */
  readonly members: readonly boolean[];
  /** One per member: configured weight times the rules' factors (0 when not eligible). */
  readonly weights: readonly number[];
  /** One per member: the name of the first rule that excluded it, if any. */
  readonly excludedBy: readonly (string | undefined)[];
}

/** What an algorithm needs besides the eligible members, for one key. */
export interface PickInput {
  /** Running scores of smooth WRR, one per member; updated in place (shared state). */
  readonly current: number[];
  /** hash of the key's sticky part (its domain), for sticky; computed before the lock. */
  readonly keyHash: number;
  /** hashKey() of each member's value. */
  readonly memberHashes: readonly number[];
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

/** One way of choosing among eligible members. */
export interface Algorithm {
  readonly name: AlgorithmName;
  /** The hash a key contributes (sticky: its domain's); computed before the lock is taken. */
  keyHash(key: string): number;
  /** @returns the member picked, or -1 when none is eligible */
  pick(eligible: Eligible, input: PickInput): number;
  /** One line for `postbal check`: what a pick does. */
  describe(): string;
  /** The first `count` picks from a fresh state with every member eligible, when they are predictable. */
  preview?(weights: readonly number[], count: number): number[];
}

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
  /** Rate limits' GCRA times and the fleet's leases (balance/eligibility/rate.ts), by id and kind; [] when none. */
  limits: LimitRecord[];
}

/** Kinds of LimitRecord. */
export const LEASE_WARMUP = 1;
export const LIMIT_RATE = 2;

/**
 * One counted limit of one host: a rate limit's GCRA time, and on a fleet
 * host the answers it may still give of what it leased from the fleet.
 */
export interface LimitRecord {
  /** Warm-up: the warm-up record's id; rate: the transport's id (low 32 bits of its value's hash). */
  id: number;
  /** LEASE_WARMUP or LIMIT_RATE. */
  kind: number;
  /** Fleet: new answers this host may still give (granted by the fleet agent, one taken per answer). */
  lease: number;
  /** Fleet: answers given since the agent last collected them (it reports them to the fleet). */
  used: number;
  /** Host-wide rate: the GCRA's theoretical arrival time (ms since the epoch); 0 before the first answer. */
  tat: number;
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
