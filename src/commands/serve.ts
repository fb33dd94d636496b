import { ConfigSource, type ConfigEvents, type LastGoodKeeper } from '../config/source.js';
import { lastGoodPath, readLastGood, saveLastGood } from '../state/last-good.js';
import { formatConfigProblem } from '../errors.js';
import { LookupHandler } from '../handler.js';
import { serveConnection, type ServeHooks } from '../io/serve.js';
import type { Outcome, Request } from '../protocol/types.js';
import { lookupWireFor } from '../protocol/wire.js';
import { guardProcess } from '../io/guard.js';
import type { Algorithm } from '../config/types.js';
import type { Logger } from '../log/types.js';
import { FileStateStore } from '../state/file-store.js';
import { MemoryStateStore } from '../state/memory-store.js';
import { WriteBehindStore } from '../state/write-behind.js';
import type { StateStore } from '../state/types.js';
import { DEFAULTS } from '../defaults.js';
import { monotonicMs } from '../clock.js';
import { lazyRequire } from '../lazy-require.js';
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
  /** Hold positions in the process and write them this long after (state/write-behind.ts): the daemon. */
  readonly writeBehindMs?: number;
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

/**
 * The last good configuration kept beside the state (state/last-good.ts);
 * none with `--state none`. The copy is written after the first reply (it
 * loads node:crypto and touches the disk), and only when it changed.
 */
function lastGoodKeeper(statePath: string, configPath: string, warn: (m: string) => void): (LastGoodKeeper & { afterFirstReply(): void }) | undefined {
  if (statePath === 'none') return undefined;
  let replied = false;
  let pending: string | undefined;
  let warned = false;
  const write = (text: string): void => {
    try {
      saveLastGood(statePath, configPath, text, new Date());
    } catch (err) {
      if (!warned) warn(`cannot keep the last good configuration in ${lastGoodPath(statePath)} (${(err as NodeJS.ErrnoException).code ?? String(err)}): a broken config file will stop lookups`);
      warned = true;
    }
  };
  return {
    save(text) {
      if (replied) write(text);
      else pending = text;
    },
    load() {
      const kept = readLastGood(statePath);
      return kept && { text: kept.text, describe: `${kept.path}, loaded from ${kept.source} at ${kept.loadedAt}, sha256 ${kept.sha256.slice(0, 12)}` };
    },
    afterFirstReply() {
      replied = true;
      if (pending !== undefined) write(pending);
      pending = undefined;
    },
  };
}

export function createStore(statePath: string, repeatWindowSec: number, warn: (m: string) => void, writeBehindMs?: number): StateStore {
  if (statePath === 'none') return new MemoryStateStore({ memoTtlSec: repeatWindowSec, memoSlots: DEFAULTS.memoSlots });
  const file = new FileStateStore({ path: statePath, memoSlots: DEFAULTS.memoSlots, memoTtlSec: repeatWindowSec, warn });
  return writeBehindMs === undefined ? file : new WriteBehindStore(file, writeBehindMs);
}

/** What answers lookups: one per process, for every connection it serves. */
export interface LookupService {
  readonly config: ConfigSource;
  readonly store: StateStore;
  readonly handler: LookupHandler;
  /** Hooks for the serving loop, the same for every connection (io/serve.ts). */
  readonly hooks: ServeHooks<Request, Outcome>;
  /** Re-reads the config now (SIGHUP), with the fail-static rule of ConfigSource; says what came of it. */
  reload(): 'loaded' | 'unchanged' | 'failed';
  /** Saves what is not saved yet; the logger stays open. */
  close(): void;
}

/**
 * The config, the state store and the handler, logging what they find. The
 * composition shared by a spawned instance (one connection: stdin) and the
 * daemon (many connections).
 */
export function openLookupService(opts: ServeOptions, extra: { readonly afterFirstReply?: () => void } = {}): LookupService {
  const { logger } = opts;
  const warn = (m: string): void => logger.log('warning', m);
  const keeper = lastGoodKeeper(opts.statePath, opts.configPath, warn);
  let outcome: 'loaded' | 'unchanged' | 'failed' = 'unchanged';
  const config = new ConfigSource(opts.configPath, configEvents(opts, (o) => { outcome = o; }), keeper);
  logger.log('info', `postbal starting, configuration ${opts.configPath}, state ${opts.statePath}`);
  config.refresh(monotonicMs(), true);
  const store = createStore(opts.statePath, opts.repeatWindowSec, warn, opts.writeBehindMs);
  const handler = new LookupHandler({
    config, store, logger, logLookups: opts.logLookups, ...(opts.algorithm ? { algorithm: opts.algorithm } : {}),
  });
  let replied = false;
  const hooks: ServeHooks<Request, Outcome> = {
    handle: (r) => handler.handleBatch(r),
    internalError: (err) => {
      logger.log('error', `internal error (answered as a temporary failure; please report): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    },
    replied: () => handler.afterReply(),
    afterFirstReply: () => {
      if (replied) return;
      replied = true;
      capYoungGeneration();
      keeper?.afterFirstReply();
      extra.afterFirstReply?.();
    },
    framingError: (reason) => logger.log('warning', `socketmap: ${reason}; answered PERM and closed the connection`),
  };
  return {
    config, store, handler, hooks,
    reload() {
      outcome = 'unchanged';
      config.refresh(monotonicMs(), true);
      return outcome;
    },
    close() {
      handler.close();
      store.close();
    },
  };
}

/** What loading the config logs. */
function configEvents(opts: ServeOptions, outcome: (o: 'loaded' | 'failed') => void): ConfigEvents {
  const { logger } = opts;
  return {
    loaded(parsed, first, recovered) {
      outcome('loaded');
      for (const w of parsed.warnings) logger.log('warning', `${opts.configPath}:${w.line}: ${w.message}`);
      const { pool } = parsed;
      const summary = pool.transports.map((t) => `${t.value}=${t.weight}${t.priority === 0 ? '' : `/priority=${t.priority}`}`).join(' ');
      const algorithm = opts.algorithm ?? pool.algorithm;
      const what = first ? 'configuration' : recovered ? `configuration ${opts.configPath} loads again (the last good copy is no longer used)` : 'configuration reloaded';
      logger.log('info', `${what}: ${summary}; algorithm ${algorithm}${pool.fallback === undefined ? '' : `; fallback ${pool.fallback}`}`);
    },
    failed(error, kept) {
      outcome('failed');
      for (const p of error.problems) logger.log('error', formatConfigProblem(p));
      switch (kept.kind) {
        case 'memory': logger.log('error', `configuration ${opts.configPath} unusable; keeping the last good configuration`); break;
        case 'last-good': logger.log('error', `configuration ${opts.configPath} unusable; serving the last good configuration (${kept.describe}) since ${new Date().toISOString()}; fix the file (postbal check) and it is used within 1 s`); break;
        case 'none': logger.log('error', `no usable configuration in ${opts.configPath} and no last good copy beside the state; answering every lookup "400 error:config" until it is fixed`); break;
        default: {
          const unreachable: never = kept;
          return unreachable;
        }
      }
    },
  };
}

/**
 * Serves tcp_table requests on stdin/stdout until EOF.
 * Nothing but replies goes to stdout; diagnostics go to the logger only.
 * @returns the exit code (0 at EOF or when the peer went away)
 */
export async function runServe(opts: ServeOptions): Promise<number> {
  const { logger } = opts;
  const service = openLookupService(opts);
  guardProcess(logger, (err) => service.hooks.internalError(err));
  const how = await serveConnection(process.stdin, process.stdout, lookupWireFor, service.hooks);
  service.close();
  if (how === 'peer-gone') logger.log('info', 'client closed the connection');
  logger.close();
  return 0;
}
