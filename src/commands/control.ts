import { resolve } from 'node:path';
import { loadConfigFor } from './load-config.js';
import type { PoolConfig } from '../config/types.js';
import { describeUser } from '../sys/users.js';
import { EX, StateError } from '../errors.js';
import { DRAINED } from '../balance/eligibility/drain.js';
import { eligibleMembers } from '../balance/eligibility/index.js';
import { describeEligible } from '../balance/eligibility/describe.js';
import { FileStateStore } from '../state/file-store.js';
import type { BalanceState, TroubleAccess } from '../state/types.js';
import type { Logger } from '../log/types.js';
import { DEFAULTS } from '../defaults.js';
import { serviceOf } from '../config/service-name.js';

/**
 * `postbal drain`, `undrain` and `reset-stats`: change the shared state that
 * every serving instance reads on its next lookup. They take the same lock
 * as a lookup and change only their own fields, so they are safe while
 * instances serve; when the state is not theirs to change they refuse.
 */

export interface ControlIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly logger: Logger;
}

function loadPool(configFile: string, io: ControlIo): PoolConfig | undefined {
  return loadConfigFor(configFile, io.err)?.pool;
}

/** Runs `fn` on the state file under its lock; maps refusals to exit codes. */
export function changeState(pool: PoolConfig, statePath: string, io: ControlIo, fn: (state: BalanceState, trouble: TroubleAccess) => void): number {
  if (statePath === 'none') {
    io.err('postbal: --state none: there is no shared state to change (each instance keeps its own)\n');
    return EX.USAGE;
  }
  const store = new FileStateStore({
    path: statePath,
    memoSlots: DEFAULTS.memoSlots,
    memoTtlSec: DEFAULTS.repeatWindowSec,
    warn: (m) => io.err(`postbal: note: ${m}\n`),
    strict: true,
    // An administrator's command is not on the mail path: it outwaits a
    // stuck holder (passed over after lockStaleMs) instead of failing at the
    // 1 s a lookup may wait, so a drain lands when it is needed most.
    lockTimeoutMs: DEFAULTS.lockStaleMs + 5000,
  });
  try {
    store.transact(pool, fn);
    return EX.OK;
  } catch (e) {
    if (!(e instanceof StateError)) throw e;
    const denied = e.code === 'ENOPERM' || e.code === 'EUNSAFE';
    // Root acted as the directory's owner already (io/identity.ts): asking it to be root helps nobody.
    const asRoot = process.getuid?.() === 0;
    io.err(`postbal: refusing to change the state: ${e.message}\n${denied
      ? asRoot ? '  (nothing was changed; the state path itself must be fixed)\n' : `  (nothing was changed; run this as the user postbal runs as under Postfix, or as root; you are ${describeUser(process.geteuid?.() ?? 0)})\n`
      : '  (nothing was changed; try again)\n'}`);
    return denied ? EX.NOPERM : EX.TEMPFAIL;
  } finally {
    store.close();
  }
}

/** The members a DRAIN argument names: a value exactly (`smtp1:[relay]:25`), or every entry of a service (`smtp1` or `smtp1:`). */
export function resolveTransport(pool: PoolConfig, name: string): number[] {
  const exact = pool.transports.findIndex((t) => t.value === name);
  if (exact >= 0) return [exact];
  const service = name.endsWith(':') ? name.slice(0, -1) : name;
  if (service.includes(':')) return [];
  return pool.transports.flatMap((t, i) => (serviceOf(t.value) === service ? [i] : []));
}

function describeTier(pool: PoolConfig, flags: readonly number[]): string {
  return describeEligible(pool, eligibleMembers(pool.transports.map((t) => t.weight), pool.transports.map((t) => t.priority), flags.map((f) => ({ flags: f }))));
}

/**
 * The config and the members a command's TRANSPORT argument names, or the
 * exit code after saying what is wrong (bad config, no such transport).
 */
export function poolAndMembers(configFile: string, name: string, io: ControlIo): { pool: PoolConfig; members: number[] } | number {
  const pool = loadPool(configFile, io);
  if (!pool) return EX.CONFIG;
  const members = resolveTransport(pool, name);
  if (members.length === 0) {
    io.err(`postbal: ${configFile}: no transport "${name}"; expected one of: ${pool.transports.map((t) => t.value).join(' ')}\n`);
    return EX.USAGE;
  }
  return { pool, members };
}

export function runDrain(configFile: string, statePath: string, name: string, drain: boolean, io: ControlIo): number {
  const found = poolAndMembers(configFile, name, io);
  if (typeof found === 'number') return found;
  const { pool, members } = found;
  let changed: string[] = [];
  let flags: number[] = [];
  const code = changeState(pool, statePath, io, (state) => {
    changed = [];
    for (const i of members) {
      const t = state.transports[i]!;
      const next = drain ? t.flags | DRAINED : t.flags & ~DRAINED;
      if (next !== t.flags) changed.push(pool.transports[i]!.value);
      t.flags = next;
    }
    flags = state.transports.map((t) => t.flags);
  });
  if (code !== EX.OK) return code;
  const verb = drain ? 'drained' : 'undrained';
  const values = members.map((i) => pool.transports[i]!.value).join(' ');
  const summary = describeTier(pool, flags);
  io.out(`${changed.length > 0 ? verb : `already ${verb}`}: ${values}; ${summary}\n`);
  if (changed.length > 0) {
    io.logger.log('info', `${changed.join(' ')} ${verb} by ${describeUser(process.geteuid?.() ?? 0)} (state ${resolve(statePath)}); ${summary}`);
  }
  return EX.OK;
}

export function runResetStats(configFile: string, statePath: string, io: ControlIo): number {
  const pool = loadPool(configFile, io);
  if (!pool) return EX.CONFIG;
  const now = Date.now();
  const code = changeState(pool, statePath, io, (state) => {
    for (const t of state.transports) {
      t.picks = 0;
      t.repeats = 0;
    }
    state.statsSince = now;
  });
  if (code !== EX.OK) return code;
  io.out(`counters reset at ${new Date(now).toISOString()}\n`);
  io.logger.log('info', `counters reset by uid ${process.geteuid?.() ?? '?'} (state ${resolve(statePath)})`);
  return EX.OK;
}
