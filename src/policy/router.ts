import { wrr } from '../balance/algorithms/wrr.js';
import { eligibleMembers } from '../balance/eligibility/index.js';
import type { EligibilityRule, MemberFacts } from '../balance/types.js';
import { encodePolicyAction } from '../protocol/policy.js';
import { PolicyBackendError, CONNECT_TIMEOUT_MS, type BackendSpec } from './backend.js';
import { BackendPool } from './backend-pool.js';
import type { PolicyBoard } from './board.js';
import { addRequestCounts, allDownOf, currentOf, downUntilOf, readRecord, setCurrent, streakOf, writeAllDown, writeRecord } from './board-codec.js';

/**
 * Which policy service answers a request: the best priority group with a
 * service not tripped, smooth weighted round robin within it (priorities are
 * numbers: 5 before 10, unlike hapolicy's string sort), the next service and
 * then the next group on failure, the default action when none answers.
 *
 * The circuit breaker and the round-robin scores live on the board shared by
 * every instance (policy/board.ts): a service that failed is skipped by all
 * of them for `breakerMs` instead of costing its timeout on each request;
 * failed means it could not be reached (a failed connect is true of every
 * request), or TRIP_AFTER distinct requests in a row failed on it within
 * TRIP_WINDOW_MS. One request that makes a service stall (a crafted sender)
 * fails over by itself and trips nothing: else anyone could make every
 * instance answer the default action, fail-open, for everyone;
 * then exactly one request (whichever instance claims the trial first) tries
 * it again, and it is back when it answers. Each change of state is logged
 * once, by the instance that made it.
 */
export interface RouterOptions {
  /** The action when no service answers (hapolicy's -d; default dunno). */
  readonly defaultAction: string;
  /** How long a failed service is skipped. */
  readonly breakerMs: number;
  readonly board: PolicyBoard;
  readonly log: (level: 'info' | 'warning', message: string) => void;
  /** Wall-clock ms (the board is shared between processes). @default Date.now */
  readonly nowMs?: () => number;
}

/** A failure in the 16 bytes the board keeps: the errno code, or a word for the backend's own reasons. */
function failureCode(reason: string): string {
  if (/^E[A-Z]+$/.test(reason)) return reason;
  if (reason.startsWith('no reply')) return 'timeout';
  if (reason.startsWith('connect timed out')) return 'connect timeout';
  if (reason.startsWith('connection closed')) return 'closed';
  return 'bad reply';
}

/** Distinct requests failing in a row (no answer between them) that trip the breaker. */
export const TRIP_AFTER = 3;
/** A streak older than this starts again: failures far apart are not one outage. */
export const TRIP_WINDOW_MS = 60_000;

/** A service held by its breaker, or already in this request's order. */
const HELD = 1;

/** The breaker as an eligibility rule: a held service is skipped like a drained transport. */
const breakerRule: EligibilityRule = {
  name: 'breaker',
  automatic: false,
  factor: (_member, facts) => ((facts.flags & HELD) !== 0 ? 0 : 1),
};

/** Counters are added to the board at most this often (and at close). */
const FLUSH_MS = 1000;

export class PolicyRouter {
  readonly #backends: BackendPool[];
  readonly #opts: RouterOptions;
  readonly #now: () => number;
  readonly #weights: readonly number[];
  /** Tiers: lower first (numbers, unlike hapolicy's string sort). */
  readonly #priorities: readonly number[];
  /** Answers and latency not yet added to the board. */
  readonly #answered: number[];
  /** This instance's requests, default answers and failovers not yet on the board. */
  readonly #counts = { requests: 0, defaults: 0, failovers: 0 };
  readonly #latencyMs: number[];
  #flushedAt = 0;
  /** Counters reach the board within FLUSH_MS even when requests stop (status reads them there). */
  readonly #flushTimer: NodeJS.Timeout;

  constructor(specs: readonly BackendSpec[], opts: RouterOptions) {
    this.#backends = specs.map((s) => new BackendPool(s));
    this.#opts = opts;
    this.#now = opts.nowMs ?? Date.now;
    this.#weights = specs.map((s) => s.weight);
    this.#answered = specs.map(() => 0);
    this.#latencyMs = specs.map(() => 0);
    this.#priorities = specs.map((s) => s.priority);
    this.#flushTimer = setInterval(() => this.flush(), FLUSH_MS);
    this.#flushTimer.unref();
  }

  /**
   * Whether service `i` may be asked now. A deadline further ahead than any
   * this program sets (a wall clock stepped back) counts as passed.
   */
  #usable(page: Buffer, i: number, now: number): boolean {
    const until = downUntilOf(page, i);
    if (until === 0) return true;
    if (this.#held(until, now, i)) return false;
    return this.#claimTrial(i, now);
  }

  /** The breaker (or a trial under way) holds service `i`: a deadline no longer than this program ever sets. */
  #held(until: number, now: number, i: number): boolean {
    return until > now && until - now <= this.#opts.breakerMs + this.#backends[i]!.spec.timeoutMs + CONNECT_TIMEOUT_MS;
  }

  /** The breaker's time is up: one request, this one if no other instance was first, tries the service. */
  #claimTrial(i: number, now: number): boolean {
    return this.#opts.board.update((page) => {
      const r = readRecord(page, i);
      if (r.downUntil === 0) return true;
      if (this.#held(r.downUntil, now, i)) return false;
      // Held for the trial's longest possible duration; released by its outcome.
      r.downUntil = now + this.#backends[i]!.spec.timeoutMs + CONNECT_TIMEOUT_MS;
      writeRecord(page, i, r);
      return true;
    });
  }

  /**
   * The services to try for one request, in order: the tiers and smooth
   * WRR of the lookups (balance/), a service held by its breaker being a
   * member excluded by the `breaker` rule. The best tier's pick first (its
   * scores shared on the board, so the shares hold across instances), then
   * the rest of that tier by weight, then the next tier's the same way.
   */
  #order(now: number): number[] {
    const page = this.#opts.board.read();
    const facts: MemberFacts[] = this.#backends.map((_, i) => ({ flags: this.#usable(page, i, now) ? 0 : HELD }));
    const order: number[] = [];
    for (;;) {
      const tier = eligibleMembers(this.#weights, this.#priorities, facts, [breakerRule], now);
      if (tier.priority === undefined) return order;
      const members = this.#backends.map((_, i) => i).filter((i) => tier.members[i]);
      const first = members.length === 1 ? members[0]! : this.#opts.board.update((p) => {
        const input = { current: this.#backends.map((_, i) => currentOf(p, i)), keyHash: 0, memberHashes: [], random: Math.random };
        const pick = wrr.pick(tier, input);
        for (const i of members) setCurrent(p, i, input.current[i]!);
        return pick;
      });
      order.push(first, ...members.filter((i) => i !== first).sort((a, b) => this.#weights[b]! - this.#weights[a]!));
      // This tier is spoken for: the next one follows on failure.
      for (const i of members) facts[i] = { flags: HELD };
    }
  }

  #succeeded(i: number, latencyMs: number, now: number, page: Buffer): void {
    this.#answered[i]!++;
    this.#latencyMs[i]! += latencyMs;
    const b = this.#backends[i]!;
    if (downUntilOf(page, i) !== 0 || allDownOf(page) || streakOf(page, i) !== 0) {
      this.#opts.board.update((p) => {
        const r = readRecord(p, i);
        if (r.downUntil === 0 && r.streak !== 0) {
          r.streak = 0;
          r.downSince = 0;
          writeRecord(p, i, r);
        }
        if (r.downUntil !== 0) {
          this.#opts.log('info', `policy service ${b.spec.name} (${b.spec.host}:${b.spec.port}) answers again after ${Math.round((now - r.downSince) / 1000)}s`);
          r.downUntil = 0;
          r.downSince = 0;
          r.streak = 0;
          writeRecord(p, i, r);
        }
        if (allDownOf(p)) {
          writeAllDown(p, false);
          this.#opts.log('info', 'policy: a service answers again; default action no longer in use');
        }
      });
    }
    if (now - this.#flushedAt >= FLUSH_MS) this.flush(now);
  }

  #failed(i: number, err: Error, now: number): void {
    const b = this.#backends[i]!;
    const reason = err.message;
    const unreachable = err instanceof PolicyBackendError && err.stage === 'connect';
    this.#opts.board.update((p) => {
      const r = readRecord(p, i);
      const wasUp = r.downUntil === 0;
      r.failures++;
      r.lastFailure = failureCode(reason);
      if (r.streak === 0 || now - r.downSince > TRIP_WINDOW_MS) {
        r.streak = 0;
        r.downSince = now;
      }
      r.streak++;
      // A failed trial (the service was held) trips again at once, as does an unreachable service.
      const trip = !wasUp || unreachable || r.streak >= TRIP_AFTER;
      if (trip) r.downUntil = now + this.#opts.breakerMs;
      writeRecord(p, i, r);
      if (wasUp && trip) {
        this.#opts.log('warning', `policy service ${b.spec.name} (${b.spec.host}:${b.spec.port}) failed: ${reason}${unreachable ? '' : ` (${r.streak} requests in a row)`}; every instance skips it for ${this.#opts.breakerMs / 1000}s at a time until it answers`);
      } else if (wasUp) {
        this.#opts.log('warning', `policy service ${b.spec.name} (${b.spec.host}:${b.spec.port}) failed one request: ${reason}; that request goes to the next service (${r.streak} of ${TRIP_AFTER} in a row trip the breaker)`);
      }
    });
  }

  /** The reply for one request: a service's, verbatim, or the default action. */
  async route(raw: Buffer): Promise<Buffer> {
    this.#counts.requests++;
    let tried = 0;
    for (const i of this.#order(this.#now())) {
      const started = performance.now();
      if (tried++ > 0) this.#counts.failovers++;
      try {
        const reply = await this.#backends[i]!.ask(raw);
        this.#succeeded(i, performance.now() - started, this.#now(), this.#opts.board.last);
        return reply;
      } catch (err) {
        this.#failed(i, err as Error, this.#now());
      }
    }
    this.#counts.defaults++;
    this.#opts.board.update((p) => {
      if (allDownOf(p)) return;
      writeAllDown(p, true);
      this.#opts.log('warning', `policy: no service answers; answering "action=${this.#opts.defaultAction}" until one does`);
    });
    return encodePolicyAction(this.#opts.defaultAction);
  }

  /** Adds this instance's answer counts and latencies to the board. */
  flush(now = this.#now()): void {
    this.#flushedAt = now;
    if (!this.#answered.some((n) => n > 0) && this.#counts.requests === 0) return;
    this.#opts.board.update((p) => {
      addRequestCounts(p, this.#counts);
      this.#backends.forEach((_, i) => {
        if (this.#answered[i] === 0) return;
        const r = readRecord(p, i);
        r.answered += this.#answered[i]!;
        r.latencySumMs += this.#latencyMs[i]!;
        writeRecord(p, i, r);
      });
    });
    this.#answered.fill(0);
    this.#latencyMs.fill(0);
    Object.assign(this.#counts, { requests: 0, defaults: 0, failovers: 0 });
  }

  close(): void {
    clearInterval(this.#flushTimer);
    this.flush();
    for (const b of this.#backends) b.close();
  }
}
