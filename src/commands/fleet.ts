import { hostname } from 'node:os';
import type { ParsedConfig } from '../config/parse.js';
import type { FleetConfig, PoolConfig } from '../config/types.js';
import { ConfigError, EX } from '../errors.js';
import type { Logger } from '../log/types.js';
import { FileStateStore } from '../state/file-store.js';
import { DEFAULTS } from '../defaults.js';
import { FleetAgent } from '../fleet/agent.js';
import { FleetStore } from '../fleet/store.js';
import { fleetStatusPath } from '../fleet/status-file.js';
import { loadConfigFor } from './load-config.js';

/**
 * `postbal fleet`: the host's one link to the fleet's Redis, beside spawned
 * instances (the daemon runs the same agent inside). Runs until SIGTERM;
 * SIGHUP re-reads postbal.cf (a broken file keeps the running one).
 */

export interface FleetOptions {
  readonly configFile: string;
  readonly statePath: string;
  readonly version: string;
  readonly logger: Logger;
  readonly err: (s: string) => void;
  /** @default 250 */
  readonly tickMs?: number;
}

/** This host's name in the fleet: fleet_host, or the host name up to its first dot. */
export function fleetHost(fleet: FleetConfig): string {
  return fleet.host ?? (hostname().split('.')[0]!.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'host');
}

/** Starts an agent for `pool` on `store` (a file store of the state path). @returns its stop function */
export function startFleetAgent(pool: () => PoolConfig, fleet: FleetConfig, statePath: string, state: FileStateStore, logger: Logger, version: string, tickMs?: number): { stop: () => Promise<void>; agent: FleetAgent } {
  const store = new FleetStore(fleet);
  const agent = new FleetAgent({ pool, state, fleet: store, host: fleetHost(fleet), version, logger, statusPath: fleetStatusPath(statePath), ...(tickMs ? { tickMs } : {}) });
  const abort = new AbortController();
  const running = agent.run(abort.signal);
  return {
    agent,
    stop: async () => {
      abort.abort();
      await running;
      store.close();
    },
  };
}

export async function runFleet(o: FleetOptions): Promise<number> {
  let parsed: ParsedConfig | undefined = loadConfigFor(o.configFile, o.err);
  if (!parsed) return EX.CONFIG;
  const fleet = parsed.pool.fleet;
  if (!fleet) {
    o.err(`postbal fleet: ${o.configFile}: no "fleet = redis://HOST:PORT" line: this host balances alone\n`);
    return EX.CONFIG;
  }
  if (o.statePath === 'none') {
    o.err('postbal fleet: --state none: the fleet\'s facts need a state file to reach the lookups\n');
    return EX.USAGE;
  }
  const warn = (m: string): void => o.logger.log('warning', m);
  const state = new FileStateStore({ path: o.statePath, memoSlots: DEFAULTS.memoSlots, memoTtlSec: DEFAULTS.repeatWindowSec, warn });
  let running: ReturnType<typeof startFleetAgent>;
  try {
    running = startFleetAgent(() => parsed!.pool, fleet, o.statePath, state, o.logger, o.version, o.tickMs);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    o.err(`postbal fleet: ${err.message}\n`);
    return EX.CONFIG;
  }
  o.logger.log('info', `fleet: host ${fleetHost(fleet)} joins fleet ${fleet.name} at ${fleet.url}, state ${o.statePath}`);
  const onHup = (): void => {
    const next = loadConfigFor(o.configFile, (s) => warn(`fleet: SIGHUP: ${s.trim()}; the running configuration stays in force`));
    if (next?.pool.fleet && next.pool.fleet.url === fleet.url && next.pool.fleet.name === fleet.name) parsed = next;
    else if (next) warn('fleet: SIGHUP: the fleet directives changed: restart postbal fleet to use them');
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  process.off('SIGHUP', onHup);
  await running.stop();
  state.close();
  o.logger.log('info', 'fleet: stopped');
  return EX.OK;
}
