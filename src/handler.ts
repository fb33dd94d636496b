import type { ConfigSource } from './config/source.js';
import type { PoolConfig } from './config/types.js';
import { hashKey } from './balance/hash.js';
import { pickSmoothWrr } from './balance/wrr.js';
import { sanitizeForLog } from './log/format.js';
import type { Logger } from './log/types.js';
import type { Outcome, Request } from './protocol/types.js';
import type { StateStore, StateTxn } from './state/types.js';

/**
 * The policy: requests in, outcomes out, in order. Knows nothing of the wire.
 */

export interface HandlerOptions {
  readonly config: ConfigSource;
  readonly store: StateStore;
  readonly logger: Logger;
  /** One info line per lookup naming the transport (postbal.pl did this). */
  readonly logLookups: boolean;
  readonly nowMs?: () => number;
}

/**
 * The transport_maps wildcard. Postfix asks for it when trivial-rewrite starts
 * and after not-found answers; a transport given here would become the route
 * of every address the table does not answer, so it is never answered.
 */
const WILDCARD = '*';

const CONFIG_ERROR: Outcome = { kind: 'tempFail', reason: 'error:config' };

interface Decision {
  readonly index: number;
  readonly repeat: boolean;
}

export class LookupHandler {
  readonly #opts: HandlerOptions;
  readonly #now: () => number;

  constructor(opts: HandlerOptions) {
    this.#opts = opts;
    this.#now = opts.nowMs ?? (() => Date.now());
  }

  /** Answers a batch of requests that arrived together, in order. Never throws. */
  handleBatch(requests: readonly Request[]): Outcome[] {
    const { config, logger } = this.#opts;
    config.refresh(performance.now());
    const pool = config.current();
    const lookups: { i: number; key: string }[] = [];
    const out: Outcome[] = new Array<Outcome>(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if (r.kind === 'invalid') {
        logger.log('warning', `invalid request: ${r.reason}`);
        out[i] = { kind: 'tempFail', reason: 'error:invalid_request' };
      } else if (r.key === WILDCARD) {
        out[i] = { kind: 'notFound', reason: 'not_found' };
      } else if (!pool) {
        out[i] = CONFIG_ERROR;
      } else {
        lookups.push({ i, key: r.key });
      }
    }
    if (pool && lookups.length > 0) {
      try {
        const decisions = this.#decide(pool, lookups.map((l) => l.key));
        for (let k = 0; k < lookups.length; k++) {
          const { i, key } = lookups[k]!;
          const d = decisions[k]!;
          const value = pool.transports[d.index]!.value;
          out[i] = { kind: 'found', value };
          if (this.#opts.logLookups) {
            logger.log('info', `key=<${sanitizeForLog(key)}> transport=${value} ${d.repeat ? 'repeat' : 'pick'}`);
          }
        }
      } catch (err) {
        logger.log('error', `lookup failed: ${(err as Error).stack ?? String(err)}`);
        for (const { i } of lookups) out[i] = { kind: 'tempFail', reason: 'error:internal' };
      }
    }
    return out;
  }

  #decide(pool: PoolConfig, keys: readonly string[]): Decision[] {
    const weights = pool.transports.map((t) => t.weight);
    const nowSec = Math.floor(this.#now() / 1000);
    const hashes = keys.map(hashKey);
    return this.#opts.store.transact(pool, keys.length, (txn: StateTxn) => {
      const { state, memo } = txn;
      const current = state.transports.map((t) => t.current);
      const decisions: Decision[] = [];
      for (const hash of hashes) {
        const remembered = memo.take(hash, nowSec);
        if (remembered !== undefined) {
          state.transports[remembered]!.repeats++;
          decisions.push({ index: remembered, repeat: true });
          continue;
        }
        const index = pickSmoothWrr(weights, current);
        state.transports[index]!.picks++;
        state.seq++;
        memo.put(hash, index, nowSec);
        decisions.push({ index, repeat: false });
      }
      for (let t = 0; t < current.length; t++) state.transports[t]!.current = current[t]!;
      return decisions;
    });
  }
}
