import type { ConfigSource } from './config/source.js';
import { inScope } from './config/scope.js';
import type { Algorithm as AlgorithmName, PoolConfig } from './config/types.js';
import { ALGORITHM_IMPLS } from './balance/algorithms/index.js';
import { Selection } from './balance/select.js';
import { hashKey } from './keys/hash.js';
import { LookupLog } from './lookup-log.js';
import type { Logger } from './log/types.js';
import type { Outcome, Request } from './protocol/types.js';
import type { MemoAccess, StateStore } from './state/types.js';
import { planBurst, type BurstPlan } from './state/memo.js';
import type { LookupOutcome } from './state/tally.js';
import { monotonicMs } from './clock.js';

/**
 * Lookups in, outcomes out, in order. Knows nothing of the wire, and picks
 * nothing itself: for each key it runs the pipeline of balance/types.ts
 * (memo, then eligibility, tier and algorithm under the state's lock).
 */

export interface HandlerOptions {
  readonly config: ConfigSource;
  readonly store: StateStore;
  readonly logger: Logger;
  /** One info line per lookup naming the transport (postbal.pl did this; off by default). */
  readonly logLookups: boolean;
  /** Overrides the config's `algorithm` (command line `--algorithm`). */
  readonly algorithm?: AlgorithmName;
  /** Wall-clock milliseconds (memo expiry). @default Date.now */
  readonly nowMs?: () => number;
  /** Monotonic milliseconds (config re-check). @default monotonicMs */
  readonly monotonicMs?: () => number;
  /** Uniform in [0, 1), for `random`. */
  readonly random?: () => number;
}

/**
 * The transport_maps wildcard. Postfix asks for it when trivial-rewrite starts
 * and after not-found answers; a transport given here would become the route
 * of every address the table does not answer, so it is never answered.
 */
const WILDCARD = '*';

const CONFIG_ERROR: Outcome = { kind: 'tempFail', reason: 'error:config' };
/** As postbal.pl answered anything that was not `get KEY`. */
const INVALID_REQUEST: Outcome = { kind: 'tempFail', reason: 'error:invalid_request' };
/** A malformed socketmap request: retrying cannot help. */
const MALFORMED_REQUEST: Outcome = { kind: 'permFail', reason: 'malformed request' };
const NOT_FOUND: Outcome = { kind: 'notFound', reason: 'not_found' };
const OUT_OF_SCOPE: Outcome = { kind: 'notFound', reason: 'not_in_scope' };
const NONE_AVAILABLE: Outcome = { kind: 'notFound', reason: 'no_transport_available' };
const INTERNAL_ERROR: Outcome = { kind: 'tempFail', reason: 'error:internal' };

/** What the tally counts each constant outcome as (state/tally.ts). */
const TALLIED = new Map<Outcome, `lookup:${LookupOutcome}`>([
  [CONFIG_ERROR, 'lookup:tempfail/config'], [INVALID_REQUEST, 'lookup:tempfail/invalid_request'], [MALFORMED_REQUEST, 'lookup:permfail/malformed_request'],
  [NOT_FOUND, 'lookup:not_found/wildcard'], [OUT_OF_SCOPE, 'lookup:not_found/not_in_scope'], [NONE_AVAILABLE, 'lookup:not_found/no_transport_available'], [INTERNAL_ERROR, 'lookup:tempfail/internal'],
]);

interface Decision {
  /** A member of the pool, or -1: none available (fallback or not found). */
  readonly index: number;
  readonly repeat: boolean;
}

export class LookupHandler {
  readonly #opts: HandlerOptions;
  readonly #now: () => number;
  #found: { pool: PoolConfig; outcomes: readonly Outcome[]; none: Outcome } | undefined;
  #selection: Selection | undefined;
  readonly #random: () => number;
  readonly #log: LookupLog;
  #repeats: { pool: PoolConfig; counts: number[] } | undefined;
  #deferred: (() => void)[] = [];

  constructor(opts: HandlerOptions) {
    this.#opts = opts;
    this.#now = opts.nowMs ?? (() => Date.now());
    this.#random = opts.random ?? Math.random;
    this.#log = new LookupLog(opts.logLookups);
  }

  /** Answers a batch of requests that arrived together, in order. Never throws. */
  handleBatch(requests: readonly Request[]): Outcome[] {
    const { config, logger } = this.#opts;
    config.refresh((this.#opts.monotonicMs ?? monotonicMs)());
    const pool = config.current();
    const lookups: { i: number; key: string }[] = [];
    const out: Outcome[] = new Array<Outcome>(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if (r.kind === 'invalid') {
        out[i] = r.permanent ? MALFORMED_REQUEST : INVALID_REQUEST;
      } else if (r.key === WILDCARD) {
        out[i] = NOT_FOUND;
      } else if (!pool) {
        out[i] = CONFIG_ERROR;
      } else if (!inScope(pool.scope, r.key)) {
        out[i] = OUT_OF_SCOPE;
      } else {
        lookups.push({ i, key: r.key });
      }
    }
    const repeat = new Array<boolean>(requests.length);
    if (pool && lookups.length > 0) {
      try {
        const decisions = this.#decide(pool, lookups.map((l) => l.key));
        const found = this.#foundOutcomes(pool);
        const counts = [0, 0, 0]; // new, repeat, fallback: added to the tally once per burst
        for (let k = 0; k < lookups.length; k++) {
          const d = decisions[k]!;
          out[lookups[k]!.i] = d.index >= 0 ? found.outcomes[d.index]! : found.none;
          repeat[lookups[k]!.i] = d.repeat;
          counts[d.index < 0 ? 2 : d.repeat ? 1 : 0]!++;
        }
        this.#tallyLookups(counts, found.none.kind === 'found', lookups.length);
      } catch (err) {
        logger.log('error', `lookup failed: ${(err as Error).stack ?? String(err)}`);
        for (const { i } of lookups) out[i] = INTERNAL_ERROR;
      }
    }
    for (const o of out) {
      const name = TALLIED.get(o);
      if (name) this.#opts.store.tally.add(name);
    }
    const lines = this.#log.record(requests, out, repeat);
    if (lines.length > 0) this.#deferred.push(() => { for (const [level, text] of lines) logger.log(level, text); });
    return out;
  }

  /** A burst's answers by kind (the fallback's; "not found" is counted with the constant outcomes), and whether memory answered them. */
  #tallyLookups([picked, repeated, none]: number[], fallback: boolean, n: number): void {
    const { tally } = this.#opts.store;
    if (picked! > 0) tally.add('lookup:new/pick', picked);
    if (repeated! > 0) tally.add('lookup:repeat/memo', repeated);
    if (none! > 0 && fallback) tally.add('lookup:fallback/no_transport_available', none);
    const info = this.#opts.store.info();
    if (info.kind === 'memory' && info.path !== undefined) this.#opts.store.tally.add(`memory:${info.busy ? 'lock_busy' : 'state_unusable'}`, n);
  }

  /** One shared outcome per transport: a burst of thousands allocates none. */
  #foundOutcomes(pool: PoolConfig): { outcomes: readonly Outcome[]; none: Outcome } {
    if (this.#found?.pool !== pool) {
      this.#found = {
        pool,
        outcomes: pool.transports.map((t): Outcome => ({ kind: 'found', value: t.value })),
        none: pool.fallback === undefined ? NONE_AVAILABLE : { kind: 'found', value: pool.fallback },
      };
    }
    return this.#found;
  }

  /** This pool's selection (balance/select.ts); its log lines wait for the replies. */
  #selectionFor(pool: PoolConfig): Selection {
    if (this.#selection?.pool !== pool) {
      this.#selection = new Selection(pool, (level, line) => { this.#deferred.push(() => this.#opts.logger.log(level, line)); });
    }
    return this.#selection;
  }

  /**
   * Decides a burst: keys the memo remembers repeat their answer (while its
   * member may still answer them); each other key gets a new pick, all in
   * one transaction; a key twice in the burst repeats its first answer. New
   * picks are remembered once the replies are out.
   */
  #decide(pool: PoolConfig, keys: readonly string[]): Decision[] {
    const nowMs = this.#now();
    const nowSec = Math.floor(nowMs / 1000);
    const memo = this.#opts.store.memo(pool, keys.length);
    const plan = planBurst(keys.map(hashKey), memo, nowSec);
    const repeat = keys.map(() => true);
    const selection = this.#selectionFor(pool);
    if (plan.fresh.length > 0 || this.#remembersStale(pool, selection, keys, plan, nowMs)) {
      for (const i of this.#pickInTransaction(pool, selection, keys, plan, nowMs)) repeat[i] = false;
    }
    const members = plan.members;
    for (let r = 0; r < plan.repeatOf.length; r += 2) members[plan.repeatOf[r]!] = members[plan.repeatOf[r + 1]!];
    const decisions = members.map((m, i): Decision => ({ index: m ?? -1, repeat: repeat[i]! }));
    for (const d of decisions) if (d.repeat && d.index >= 0) this.#countRepeat(pool, d.index);
    this.#rememberLater(pool, memo, plan, nowSec);
    return decisions;
  }

  /**
   * Lock-free, for a burst the memo answered whole: does it need a
   * transaction after all (the trouble region changed, or a remembered
   * member may no longer answer its key)?
   */
  #remembersStale(pool: PoolConfig, selection: Selection, keys: readonly string[], plan: BurstPlan, nowMs: number): boolean {
    if (plan.remembered.length === 0) return false;
    const peek = this.#opts.store.peekFlags(pool);
    if (peek === undefined || peek.troubleGen !== selection.troubleGen) return true;
    selection.peeked(peek.flags, peek.troubleGen, nowMs);
    return selection.stale(keys, plan.remembered, plan.members, nowMs).length > 0;
  }

  /**
   * One transaction: new picks for the fresh keys and for remembered ones
   * gone stale, into `plan.members`.
   * @returns the keys picked anew
   */
  #pickInTransaction(pool: PoolConfig, selection: Selection, keys: readonly string[], plan: BurstPlan, nowMs: number): number[] {
    const algorithm = ALGORITHM_IMPLS[this.#opts.algorithm ?? pool.algorithm];
    // Hashed before the lock is taken: other instances wait while it is held.
    const keyHashes = keys.map((k) => algorithm.keyHash(k));
    let fresh = plan.fresh;
    this.#opts.store.transact(pool, (state, trouble) => {
      selection.begin(state, trouble.current, nowMs);
      const stale = selection.stale(keys, plan.remembered, plan.members, nowMs);
      fresh = stale.length === 0 ? plan.fresh : [...plan.fresh, ...stale].sort((a, b) => a - b);
      const picked = selection.pick(state, algorithm, this.#random, keys, keyHashes, fresh, nowMs);
      fresh.forEach((i, k) => { plan.members[i] = picked[k]!; });
      this.#addRepeats(pool, state.transports);
    });
    return fresh;
  }

  /** The new picks whose one repeat was not used within the burst, written to the memo once the replies are out. */
  #rememberLater(pool: PoolConfig, memo: MemoAccess, plan: BurstPlan, nowSec: number): void {
    const puts: number[] = [];
    for (const [hash, i] of plan.unpaired) {
      const m = plan.members[i];
      if (m !== undefined && m >= 0) puts.push(hash, m);
    }
    if (puts.length === 0) return;
    this.#deferred.push(() => {
      // The first lookups of a new state file had no memo to read; the
      // transaction has created one to write to.
      const target = memo.usable ? memo : this.#opts.store.memo(pool, puts.length / 2);
      for (let k = 0; k < puts.length; k += 2) target.put(puts[k]!, puts[k + 1]!, nowSec);
    });
  }

  /**
   * Repeats are statistics: counted here and added to the shared counters
   * with the next transaction, so that a lookup answered from the memo (half
   * of Postfix's lookups) needs no lock at all.
   */
  #countRepeat(pool: PoolConfig, index: number): void {
    if (this.#repeats?.pool !== pool) this.#repeats = { pool, counts: pool.transports.map(() => 0) };
    this.#repeats.counts[index]!++;
  }

  /** Lock needs: called inside a transaction. */
  #addRepeats(pool: PoolConfig, counters: { repeats: number }[]): void {
    if (this.#repeats?.pool !== pool) return;
    this.#repeats.counts.forEach((n, i) => {
      counters[i]!.repeats += n;
    });
    this.#repeats = undefined;
  }

  /**
   * Work that need not delay replies (memo writes, log lines): run by the
   * serving loop once the replies of a burst are written.
   */
  afterReply(): void {
    const jobs = this.#deferred;
    this.#deferred = [];
    for (const job of jobs) job();
  }

  /** Saves counters not yet in the shared state; called at exit. */
  close(): void {
    this.afterReply();
    this.#opts.logger.log('info', this.#log.summary());
    this.flush();
  }

  /**
   * Adds repeats and tallies not yet in the shared state: at exit, and by a
   * long-running daemon now and then, so `status` never lags for long.
   */
  flush(): void {
    const pending = this.#repeats;
    const pool = pending?.pool ?? this.#opts.config.current();
    try {
      if (pending && pending.counts.some((n) => n > 0)) this.#opts.store.transact(pending.pool, (state) => this.#addRepeats(pending.pool, state.transports));
      if (pool) this.#opts.store.flushTally(pool);
    } catch {
      // Statistics only.
    }
  }
}
