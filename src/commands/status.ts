import { resolve } from 'node:path';
import { readConfigFile } from '../config/source.js';
import type { PoolConfig } from '../config/types.js';
import { ConfigError, EX } from '../errors.js';
import { inspectStateFile } from '../state/inspect.js';

/**
 * `postbal status`: the pool, the state file's position, and how many picks
 * each transport got, for a person to read.
 */
export function runStatus(configFile: string, statePath: string, out: (s: string) => void, err: (s: string) => void): number {
  let pool: PoolConfig | undefined;
  try {
    pool = readConfigFile(configFile).pool;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`postbal: ${configFile}: configuration invalid\n${e.message.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
  }
  if (statePath === 'none') {
    out('state: none (each instance balances on its own, nothing to show)\n');
    return pool ? EX.OK : EX.CONFIG;
  }
  const path = resolve(statePath);
  const header = inspectStateFile(path);
  out(`configuration: ${configFile}${pool ? '' : ' (INVALID)'}\nstate file:    ${path}\n`);
  if (typeof header === 'string') {
    out(`state:         ${header}\n`);
    if (pool) printPool(pool, undefined, out);
    return pool ? EX.OK : EX.CONFIG;
  }
  const same = pool !== undefined && header.fingerprint === pool.fingerprint;
  out(`position:      ${header.state.seq} picks since the state was created\n`);
  out(`counters since ${new Date(header.state.statsSince).toISOString()}\n`);
  if (pool && !same) out('note:          the state was written for a different pool; the next lookup starts a fresh sequence\n');
  printPool(pool && same ? pool : undefined, header.state.transports, out);
  return pool ? EX.OK : EX.CONFIG;
}

function printPool(pool: PoolConfig | undefined, counters: readonly { picks: number; repeats: number }[] | undefined, out: (s: string) => void): void {
  const rows = pool
    ? pool.transports.map((t, i) => ({ name: t.value, weight: t.weight, c: counters?.[i] }))
    : (counters ?? []).map((c, i) => ({ name: `#${i}`, weight: undefined, c }));
  const total = rows.reduce((s, r) => s + (r.weight ?? 0), 0);
  const picked = rows.reduce((s, r) => s + (r.c?.picks ?? 0), 0);
  const width = Math.max(9, ...rows.map((r) => r.name.length));
  out(`\n  ${'transport'.padEnd(width)}  weight  target     picks  actual   repeats\n`);
  for (const r of rows) {
    const target = r.weight === undefined ? '' : `${((100 * r.weight) / total).toFixed(1)}%`;
    const actual = r.c && picked > 0 ? `${((100 * r.c.picks) / picked).toFixed(1)}%` : '-';
    out(`  ${r.name.padEnd(width)}  ${String(r.weight ?? '?').padStart(6)}  ${target.padStart(6)}  ${String(r.c?.picks ?? '-').padStart(8)}  ${actual.padStart(6)}  ${String(r.c?.repeats ?? '-').padStart(8)}\n`);
  }
}
