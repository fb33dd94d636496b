import type { ConfigSource } from './config/source.js';
import { inScope } from './config/scope.js';
import type { Algorithm as AlgorithmName, PoolConfig } from './config/types.js';
import { ALGORITHM_IMPLS } from './balance/algorithms/index.js';
import { EligibilityView } from './balance/eligibility/view.js';
import { WarmupCaps, warmupRule } from './balance/eligibility/warmup.js';
import { hashKey } from './keys/hash.js';
import type { PickInput } from './balance/types.js';
import { LookupLog } from './lookup-log.js';
import type { Logger } from './log/types.js';
import type { Outcome, Request } from './protocol/types.js';
import type { StateStore } from './state/types.js';
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

interface Decision {
  /** A member of the pool, or -1: none available (fallback or not found). */
  readonly index: number;
  readonly repeat: boolean;
}

export class LookupHandler {
  readonly #opts: HandlerOptions;
  readonly #now: () => number;
  #found: { pool: PoolConfig; outcomes: readonly Outcome[]; none: Outcome } | undefined;
  /**
   * This pool's eligibility view (#viewFor).
   */
  #view: { pool: PoolConfig; view: EligibilityView; caps: WarmupCaps } | undefined;
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
        for (let k = 0; k < lookups.length; k++) {
          const d = decisions[k]!;
          out[lookups[k]!.i] = d.index >= 0 ? found.outcomes[d.index]! : found.none;
          repeat[lookups[k]!.i] = d.repeat;
        }
      } catch (err) {
        logger.log('error', `lookup failed: ${(err as Error).stack ?? String(err)}`);
        for (const { i } of lookups) out[i] = { kind: 'tempFail', reason: 'error:internal' };
      }
    }
    const lines = this.#log.record(requests, out, repeat);
    if (lines.length > 0) this.#deferred.push(() => { for (const [level, text] of lines) logger.log(level, text); });
    return out;
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

  /** The eligibility view and warm-up caps of this pool (balance/eligibility/); their log lines wait for the replies. */
  #viewFor(pool: PoolConfig): { view: EligibilityView; caps: WarmupCaps } {
    if (this.#view?.pool !== pool) {
      const log = (level: 'info' | 'warning', line: string): void => { this.#deferred.push(() => this.#opts.logger.log(level, line)); };
      this.#view = { pool, view: new EligibilityView(pool, log), caps: new WarmupCaps(pool, log) };
    }
    return this.#view;
  }

  /**
   * Decides a burst: keys the memo remembers repeat their answer (while its
   * transport stays eligible); each other key runs eligibility, tier and
   * algorithm in one transaction; a key twice in the burst repeats its first
   * answer. New picks are remembered once the replies are out.
   */
  #decide(pool: PoolConfig, keys: readonly string[]): Decision[] {
    const { store } = this.#opts;
    const nowSec = Math.floor(this.#now() / 1000);
    const hashes = keys.map(hashKey);
    const memo = store.memo(pool, keys.length);
    const decisions: Decision[] = new Array<Decision>(keys.length);
    // Keys answered by the memo, and the first new occurrence of each other key.
    let fresh: number[] = [];
    const remembered: number[] = [];
    // A key twice in one burst: its second occurrence repeats the first's
    // pick, as it would have from the memo had it come in a later burst.
    const pendingRepeat = new Map<number, number>();
    const repeatOf: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const hash = hashes[i]!;
      const first = pendingRepeat.get(hash);
      if (first !== undefined) {
        pendingRepeat.delete(hash);
        repeatOf.push(i, first);
        continue;
      }
      const index = memo.take(hash, nowSec);
      if (index !== undefined) {
        decisions[i] = { index, repeat: true };
        remembered.push(i);
        continue;
      }
      fresh.push(i);
      pendingRepeat.set(hash, i);
    }
    const { view, caps } = this.#viewFor(pool);
    const nowMs = this.#now();
    // A remembered answer stands only while its transport may answer that key
    // now: a drain, a transport down or suspended for the key's destination
    // (or a better tier coming back) applies from the next lookup. A warm-up
    // cap does not: the recipient was counted at its first lookup.
    const stale = (): number[] => (remembered.length === 0
      ? remembered
      : remembered.filter((i) => {
        const e = view.forKey(keys[i]!, nowMs);
        const index = decisions[i]!.index;
        return !e.members[index] && e.excludedBy[index] !== warmupRule.name;
      }));
    let needTransaction = fresh.length > 0;
    if (!needTransaction && remembered.length > 0) {
      const peek = store.peekFlags(pool);
      if (peek === undefined || peek.troubleGen !== view.troubleGen) needTransaction = true;
      else {
        view.update(peek.flags, peek.troubleGen, undefined, nowMs);
        needTransaction = stale().length > 0;
      }
    }
    if (needTransaction) {
      const algorithm = ALGORITHM_IMPLS[this.#opts.algorithm ?? pool.algorithm];
      // Hashed before the lock is taken: other instances wait while it is held.
      const keyHashes = keys.map((k) => algorithm.keyHash(k));
      store.transact(pool, (state, trouble) => {
        caps.begin(state, nowMs);
        const flags = (t: number): number => state.transports[t]!.flags;
        view.update(flags, state.troubleGen, trouble.current, nowMs);
        const restale = stale();
        if (restale.length > 0) fresh = [...fresh, ...restale].sort((a, b) => a - b);
        const input: { -readonly [K in keyof PickInput]: PickInput[K] } = {
          current: state.transports.map((t) => t.current),
          keyHash: 0,
          memberHashes: pool.memberHashes,
          random: this.#random,
        };
        let picked = 0;
        for (const i of fresh) {
          input.keyHash = keyHashes[i]!;
          const group = caps.groupOf(keys[i]!);
          const capped = caps.cappedFor(group);
          const index = algorithm.pick(view.forKey(keys[i]!, nowMs, capped && { name: `${group}:${caps.version}`, members: capped }), input);
          if (index >= 0) {
            state.transports[index]!.picks++;
            picked++;
            // At its cap from this answer on: the next keys of the burst go elsewhere.
            if (caps.picked(state, index, group) === 'flags') view.update(flags, state.troubleGen, undefined, nowMs);
          }
          decisions[i] = { index, repeat: false };
        }
        state.seq += picked;
        for (let t = 0; t < input.current.length; t++) state.transports[t]!.current = input.current[t]!;
        this.#addRepeats(pool, state.transports);
      });
    }
    for (let r = 0; r < repeatOf.length; r += 2) {
      decisions[repeatOf[r]!] = { index: decisions[repeatOf[r + 1]!]!.index, repeat: true };
    }
    for (const d of decisions) if (d.repeat && d.index >= 0) this.#countRepeat(pool, d.index);
    // Remember the picks whose one repeat was not used up within this burst,
    // once the replies are out.
    if (pendingRepeat.size > 0) {
      const puts: number[] = [];
      for (const [hash, i] of pendingRepeat) if (decisions[i]!.index >= 0) puts.push(hash, decisions[i]!.index);
      this.#deferred.push(() => {
        // The first lookups of a new state file had no memo to read; the
        // transaction has created one to write to.
        const target = memo.usable ? memo : store.memo(pool, puts.length / 2);
        for (let k = 0; k < puts.length; k += 2) target.put(puts[k]!, puts[k + 1]!, nowSec);
      });
    }
    return decisions;
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
    const pending = this.#repeats;
    if (!pending || pending.counts.every((n) => n === 0)) return;
    try {
      this.#opts.store.transact(pending.pool, (state) => this.#addRepeats(pending.pool, state.transports));
    } catch {
      // Statistics only.
    }
  }
}
