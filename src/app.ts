import { ConfigSource } from './config/source.js';
import { formatConfigProblem } from './errors.js';
import { LookupHandler } from './handler.js';
import { serveConnection } from './io/serve.js';
import { guardProcess } from './io/guard.js';
import type { Algorithm } from './config/types.js';
import type { Logger } from './log/types.js';
import { FileStateStore } from './state/file-store.js';
import { MemoryStateStore } from './state/memory-store.js';
import type { StateStore } from './state/types.js';
import { DEFAULTS } from './defaults.js';
import { monotonicMs } from './clock.js';
import { lazyRequire } from './lazy-require.js';
import type * as V8 from 'node:v8';

/** The composition root of a serving instance. */

export interface ServeOptions {
  readonly configPath: string;
  /** A file path, or `none` for memory-only state. */
  readonly statePath: string;
  readonly logger: Logger;
  readonly logLookups: boolean;
  readonly repeatWindowSec: number;
  /** Overrides the config's `algorithm`. */
  readonly algorithm?: Algorithm;
}

/**
 * Stops V8 from growing its young generation: on a pipelined burst it grows
 * to 16 MB per semi-space and RSS to ~90 MB; capped, RSS stays near 60 MB for
 * ~20% of pipe throughput, a rate no Postfix reaches (README, Memory). Done
 * after the first reply: node:v8 costs start-up time, and before start-up the
 * flag slows start-up itself.
 */
function capYoungGeneration(): void {
  lazyRequire<typeof V8>('node:v8').setFlagsFromString('--semi-space-growth-factor=1');
}

export function createStore(statePath: string, repeatWindowSec: number, warn: (m: string) => void): StateStore {
  if (statePath === 'none') return new MemoryStateStore({ memoTtlSec: repeatWindowSec, memoSlots: DEFAULTS.memoSlots });
  return new FileStateStore({ path: statePath, memoSlots: DEFAULTS.memoSlots, memoTtlSec: repeatWindowSec, warn });
}

/**
 * Serves tcp_table requests on stdin/stdout until EOF.
 * Nothing but replies goes to stdout; diagnostics go to the logger only.
 * @returns the exit code (0 at EOF or when the peer went away)
 */
export async function runServe(opts: ServeOptions): Promise<number> {
  const { logger } = opts;
  const warn = (m: string): void => logger.log('warning', m);
  const config = new ConfigSource(opts.configPath, {
    loaded(parsed, first) {
      for (const w of parsed.warnings) warn(`${opts.configPath}:${w.line}: ${w.message}`);
      const { pool } = parsed;
      const summary = pool.transports.map((t) => `${t.value}=${t.weight}${t.priority === 0 ? '' : `/priority=${t.priority}`}`).join(' ');
      const algorithm = opts.algorithm ?? pool.algorithm;
      logger.log('info', `${first ? 'configuration' : 'configuration reloaded'}: ${summary}; algorithm ${algorithm}${pool.fallback === undefined ? '' : `; fallback ${pool.fallback}`}`);
    },
    failed(error, keptLastGood) {
      for (const p of error.problems) logger.log('error', formatConfigProblem(p));
      logger.log('error', keptLastGood
        ? `configuration ${opts.configPath} unusable; keeping the last good configuration`
        : `no usable configuration in ${opts.configPath}; answering every lookup "400 error:config" until it is fixed`);
    },
  });
  logger.log('info', `postbal starting, configuration ${opts.configPath}, state ${opts.statePath}`);
  config.refresh(monotonicMs(), true);
  const store = createStore(opts.statePath, opts.repeatWindowSec, warn);
  const handler = new LookupHandler({
    config, store, logger, logLookups: opts.logLookups, ...(opts.algorithm ? { algorithm: opts.algorithm } : {}),
  });
  const internalError = (err: unknown): void => {
    logger.log('error', `internal error (answered as a temporary failure; please report): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  };
  guardProcess(logger, internalError);
  const how = await serveConnection(process.stdin, process.stdout, {
    handle: (r) => handler.handleBatch(r),
    internalError,
    afterReply: () => handler.afterReply(),
    afterFirstReply: capYoungGeneration,
    framingError: (reason) => logger.log('warning', `socketmap: ${reason}; answered PERM and closed the connection`),
  });
  handler.close();
  store.close();
  if (how === 'peer-gone') logger.log('info', 'client closed the connection');
  logger.close();
  return 0;
}
