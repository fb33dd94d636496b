import { fleetHost } from './fleet.js';
import { EX } from '../errors.js';
import { loadConfigFor } from './load-config.js';
import { ALGORITHM_IMPLS } from '../balance/algorithms/index.js';
import type { PoolConfig, ScopeRule } from '../config/types.js';
import { checkAgainstPostfix } from './check-postfix.js';

/** How many picks of the first cycle `check` prints at most. */
const PREVIEW_MAX = 60;

function describeRule(r: ScopeRule): string {
  switch (r.kind) {
    case 'all': return '*';
    case 'nullSender': return '"<>" (the null sender)';
    case 'key': return r.key;
    case 'domain': return r.domain;
    case 'subdomain': return `*${r.suffix}`;
    case 'localpart': return `${r.local}@*`;
    case 'regex': return `/${r.regex.source}/`;
    default: {
      const unreachable: never = r;
      return unreachable;
    }
  }
}

function describeScope(pool: PoolConfig): string {
  const { include, exclude } = pool.scope;
  if (include.length === 0 && exclude.length === 0) return 'every key (no "match" lines)';
  const yes = include.length === 0 ? 'every key' : include.map(describeRule).join(', ');
  return exclude.length === 0 ? yes : `${yes}; except ${exclude.map(describeRule).join(', ')}`;
}

/**
 * `postbal check`: validates the config, prints the pool by tier and what
 * the first picks will be. Writes to the given streams (a terminal, not Postfix).
 * @returns EX.OK, or EX.CONFIG with every problem on `err`
 */
export function runCheck(file: string, out: (s: string) => void, err: (s: string) => void, postfix: { statePath: string; dir?: string } = { statePath: 'none' }): number {
  const parsed = loadConfigFor(file, err);
  if (!parsed) return EX.CONFIG;
  const { pool } = parsed;
  const { transports } = pool;
  const tiers = [...new Set(transports.map((t) => t.priority))].sort((a, b) => a - b);
  out(`${file}: OK, ${transports.length} transport${transports.length === 1 ? '' : 's'} in ${tiers.length} tier${tiers.length === 1 ? '' : 's'}\n`);
  out(`  algorithm  ${pool.algorithm}\n  fallback   ${pool.fallback ?? 'none: "not found" when every transport is drained'}\n  answers    ${describeScope(pool)}\n`);
  const f = pool.feedback;
  const dur = (ms: number): string => (ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);
  out(`  feedback   down after ${f.downAfter} connection failures, hold ${dur(f.holdMs)} (up to ${dur(f.maxHoldMs)}), ramp ${dur(f.rampMs)}; suspend after ${f.suspendAfter} throttling replies in ${dur(f.suspendWindowMs)}, for ${dur(f.suspendTtlMs)}; ${f.rules.length} extra rule${f.rules.length === 1 ? '' : 's'}\n`);
  for (const t of transports) {
    if (t.warmup) out(`  warm-up    ${t.value} day caps ${t.warmup.join(', ')} (stage 1 to ${t.warmup.length}; a day at >= 90% of its cap advances a stage; paced over the day, all open from 19:00)\n`);
  }
  for (const t of transports) if (t.rate) out(`  rate       ${t.value} at most ${t.rate.text} (GCRA: a burst of ${t.rate.count}, then one every ${dur(t.rate.periodMs / t.rate.count)}${pool.fleet ? ', fleet-wide' : ', host-wide'})\n`);
  if (pool.fleet) out(`  fleet      ${pool.fleet.name} at ${pool.fleet.url}${pool.fleet.sentinel ? ` (Sentinel ${pool.fleet.sentinel.master})` : ''}, this host ${fleetHost(pool.fleet)}; shares drains, feedback, warm-up counts and rates (postbal fleet)\n`);
  if (pool.warmupProviders.length > 0 && transports.some((t) => t.warmup)) out(`  warm-up    counted per provider: ${pool.warmupProviders.map((d) => d.join(' ')).join(' | ')}; and other domains\n`);
  for (const w of parsed.warnings) out(`  warning: line ${w.line}: ${w.message}\n`);
  const width = Math.max(...transports.map((t) => t.value.length), 9);
  out(`\n  ${'transport'.padEnd(width)}  prio  weight   share  line\n`);
  for (const p of tiers) {
    const tier = transports.filter((t) => t.priority === p);
    const total = tier.reduce((s, t) => s + t.weight, 0);
    for (const t of tier) {
      out(`  ${t.value.padEnd(width)}  ${String(p).padStart(4)}  ${String(t.weight).padStart(6)}  ${((100 * t.weight) / total).toFixed(1).padStart(5)}%  ${t.line}\n`);
    }
  }
  const first = transports.filter((t) => t.priority === tiers[0]);
  const total = first.reduce((s, t) => s + t.weight, 0);
  const algorithm = ALGORITHM_IMPLS[pool.algorithm];
  out(`\n${algorithm.describe()}\n`);
  if (algorithm.preview) {
    const count = Math.min(total, PREVIEW_MAX);
    const picks = algorithm.preview(first.map((t) => t.weight), count).map((i) => first[i]!.value);
    out(`first ${count === total ? 'cycle' : `${count} picks`}${tiers.length > 1 ? ` (priority ${tiers[0]})` : ''}:\n  ${picks.join(' ')}\n`);
  }
  const found = checkAgainstPostfix(pool, file, postfix.statePath, postfix.dir);
  if (found.skipped !== undefined) {
    out(`\nPostfix: not checked (${found.skipped})\n`);
    return EX.OK;
  }
  out(`\nPostfix: ${found.masterCf} ${found.errors.length === 0 ? 'runs every transport' : `has ${found.errors.length} problem${found.errors.length === 1 ? '' : 's'}`}${found.warnings.length > 0 ? `, ${found.warnings.length} warning${found.warnings.length === 1 ? '' : 's'}` : ''}\n`);
  for (const w of found.warnings) out(`  warning: ${w}\n`);
  for (const e of found.errors) err(`postbal: ${e}\n`);
  return found.errors.length === 0 ? EX.OK : EX.CONFIG;
}
