import { EX, ConfigError, StateError } from '../errors.js';
import { readBoardFile } from '../policy/board.js';
import { readHeader, readRecord } from '../policy/board-codec.js';
import { readPolicyFile } from '../policy/spec.js';

/**
 * `postbal status --policy` and `postbal check --policy FILE`: what the
 * policy instances share (each service's health, failures, latency and
 * share) and whether a policy config file is valid.
 */

export interface PolicyStatusReport {
  readonly state: string;
  readonly countersSince: string | null;
  /** The default action is in use: no service answered the last request that tried them all. */
  readonly allDown: boolean;
  /** Every instance's requests, default answers and failovers since the board was created. */
  readonly requests: number;
  readonly defaults: number;
  readonly failovers: number;
  readonly services: readonly {
    readonly service: string;
    readonly priority: number;
    readonly weight: number;
    readonly timeoutSec: number;
    /** `up`, `skipped until …` (breaker open) or `trial due` (the next request tries it). */
    readonly health: string;
    readonly downSince: string | null;
    readonly failuresInARow: number;
    readonly lastFailure: string | null;
    readonly answered: number;
    readonly failures: number;
    readonly averageLatencyMs: number | null;
    readonly latencySumMs: number;
    /** Of the answers every instance got since the counters began. */
    readonly share: number;
  }[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function policyStatusReport(page: Buffer, path: string, nowMs: number): PolicyStatusReport {
  const h = readHeader(page);
  const records = Array.from({ length: h.count }, (_, i) => readRecord(page, i));
  const total = records.reduce((s, r) => s + r.answered, 0);
  return {
    state: path,
    countersSince: h.statsSince > 0 ? iso(h.statsSince) : null,
    allDown: h.allDown,
    requests: h.requests,
    defaults: h.defaults,
    failovers: h.failovers,
    services: records.map((r) => ({
      service: r.label,
      priority: r.priority,
      weight: r.weight,
      timeoutSec: r.timeoutMs / 1000,
      health: r.downUntil === 0 ? 'up' : r.downUntil > nowMs ? `skipped until ${iso(r.downUntil)}` : 'trial due',
      downSince: r.downSince > 0 ? iso(r.downSince) : null,
      failuresInARow: r.streak,
      lastFailure: r.lastFailure === '' ? null : r.lastFailure,
      answered: r.answered,
      failures: r.failures,
      averageLatencyMs: r.answered > 0 ? Number((r.latencySumMs / r.answered).toFixed(2)) : null,
      latencySumMs: r.latencySumMs,
      share: total > 0 ? r.answered / total : 0,
    })),
  };
}

/** @returns the exit code (0; 75 no state file yet; 77 one that must not be read) */
export function runPolicyStatus(path: string, json: boolean, out: (s: string) => void, err: (s: string) => void): number {
  let page: Buffer | undefined;
  try {
    page = readBoardFile(path);
  } catch (e) {
    err(`postbal status --policy: ${(e as Error).message}\n`);
    return e instanceof StateError && e.code !== 'EUNAVAILABLE' ? EX.NOPERM : EX.CONFIG;
  }
  if (!page) {
    err(`postbal status --policy: ${path}: no policy state file yet (the first request of a "postbal policy --state ${path}" creates it)\n`);
    return EX.TEMPFAIL;
  }
  const report = policyStatusReport(page, path, Date.now());
  if (json) {
    out(`${JSON.stringify(report, null, 2)}\n`);
    return EX.OK;
  }
  out(`policy state ${path}, counters since ${report.countersSince ?? '-'}${report.allDown ? '; NO SERVICE ANSWERS: the default action is in use' : ''}\n`);
  const width = Math.max(7, ...report.services.map((s) => s.service.length));
  out(`  ${'service'.padEnd(width)}  prio  weight  answered   share  failures  latency  health\n`);
  for (const s of report.services) {
    const health = s.health === 'up' ? 'up' : `${s.health.toUpperCase()}, ${s.failuresInARow} in a row (${s.lastFailure ?? '?'}), since ${s.downSince ?? '?'}`;
    out(`  ${s.service.padEnd(width)}  ${String(s.priority).padStart(4)}  ${String(s.weight).padStart(6)}  ${String(s.answered).padStart(8)}  ${(100 * s.share).toFixed(1).padStart(5)}%  ${String(s.failures).padStart(8)}  ${s.averageLatencyMs === null ? '      -' : `${s.averageLatencyMs.toFixed(2).padStart(5)}ms`}  ${health}\n`);
  }
  return EX.OK;
}

/** `postbal check --policy FILE`. @returns 0, or 78 with every problem on `err` */
export function runPolicyCheck(file: string, out: (s: string) => void, err: (s: string) => void): number {
  try {
    const s = readPolicyFile(file);
    const priorities = [...new Set(s.services.map((x) => x.priority))].sort((a, b) => a - b);
    out(`${file}: OK, ${s.services.length} service${s.services.length === 1 ? '' : 's'} in ${priorities.length} priorit${priorities.length === 1 ? 'y' : 'ies'}; default action ${s.defaultAction}; breaker ${s.breakerMs / 1000}s\n`);
    for (const p of priorities) {
      const group = s.services.filter((x) => x.priority === p);
      const total = group.reduce((n, x) => n + x.weight, 0);
      for (const x of group) out(`  prio ${String(p).padStart(4)}  ${`${x.name}=${x.host}:${x.port}`.padEnd(32)}  weight ${x.weight} (${((100 * x.weight) / total).toFixed(1)}%)  timeout ${x.timeoutMs / 1000}s\n`);
    }
    return EX.OK;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`${e.message}\n`);
    return EX.CONFIG;
  }
}
