import { stateOf, statusReport, type StatusReport } from './status.js';

/**
 * `postbal check-health`: one status line for Nagios, Icinga or Naemon, by
 * the monitoring-plugins conventions: exit 0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN, and perfdata after a `|`.
 *
 * CRITICAL: the pool file cannot be loaded (whether or not instances serve
 * the last good copy), no transport can take new mail, or the preferred
 * tier has none (mail has moved to a backup tier). WARNING: a transport is
 * down, a backup tier has no usable transport left, or transports held back
 * by feedback (down, on trial, suspended for some destinations) carry at
 * least `warningShare` of their tier's weight. UNKNOWN: the state cannot be
 * read, so health, drains and suspensions cannot be told.
 */
export const HEALTH = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
const WORD = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface HealthOptions {
  /** 0 to 1: the held-back share of a tier's weight that warns. */
  readonly warningShare: number;
}

type Row = StatusReport['transports'][number];

export interface HealthVerdict {
  readonly code: 0 | 1 | 2 | 3;
  readonly line: string;
}

/** Pure: the verdict on one status report. */
export function judgeHealth(report: StatusReport, opts: HealthOptions): HealthVerdict {
  const rows = report.transports;
  const perf = perfdata(report);
  const say = (code: 0 | 1 | 2 | 3, problems: readonly string[], otherwise: string): HealthVerdict =>
    ({ code, line: `POSTBAL ${WORD[code]} - ${problems.length > 0 ? problems.join('; ') : otherwise}${perf ? ` | ${perf}` : ''}` });
  if (report.config.lastGood) return say(2, [`${report.config.file} cannot be loaded; serving instances use the last good copy from ${report.config.lastGood.loadedAt}`], '');
  if (!report.config.valid) return say(2, [`${report.config.file} cannot be loaded and there is no last good copy: lookups fail`], '');
  if (report.state.path !== null && report.state.status !== 'ok' && !report.state.status.startsWith('none yet') && !report.state.status.startsWith('state file is new')) {
    return say(3, [`state ${report.state.path}: ${report.state.status}`], '');
  }
  const critical: string[] = [];
  const warning: string[] = [];
  const tiers = [...new Set(rows.map((t) => t.priority))].sort((a, b) => a - b);
  const usable = (t: Row): boolean => !['drained', 'capped', 'down', 'unknown'].includes(stateOf(t));
  for (const [k, p] of tiers.entries()) {
    const members = rows.filter((t) => t.priority === p);
    if (members.some(usable)) continue;
    const why = `priority ${p} tier has no usable transport (${members.map((t) => `${t.transport} ${stateOf(t)}`).join(', ')})`;
    (k === 0 ? critical : warning).push(why);
  }
  if (report.activePriority === null) critical.push('no transport can take new mail: lookups answer the fallback or "not found"');
  else if (critical.length > 0) critical.push(`new mail goes to priority ${report.activePriority}`);
  const down = rows.filter((t) => ['down', 'trial'].includes(stateOf(t)));
  if (down.length > 0) warning.push(`down: ${down.map((t) => `${t.transport} (${t.health})`).join(', ')}`);
  for (const p of tiers) {
    const held = rows.filter((t) => t.priority === p && ['down', 'trial', 'suspended'].includes(stateOf(t)));
    const share = held.reduce((s, t) => s + t.targetShare, 0);
    const suspended = held.filter((t) => stateOf(t) === 'suspended');
    if (suspended.length > 0 && share >= opts.warningShare) {
      warning.push(`priority ${p}: ${pct(share)} of its weight held back by feedback (suspended: ${suspended.map((t) => `${t.transport} for ${t.suspendedFor.length} destination${t.suspendedFor.length === 1 ? '' : 's'}`).join(', ')})`);
    }
  }
  if (critical.length > 0) return say(2, critical, '');
  if (warning.length > 0) return say(1, warning, '');
  const active = rows.filter((t) => t.active);
  return say(0, [], `${active.length} of ${rows.length} transports take new mail at priority ${report.activePriority}`);
}

const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;

/** 'label'=value;warn;crit;min;max, quoted because transport names carry ':' and '['. */
function perfdata(report: StatusReport): string {
  const rows = report.transports;
  const count = (s: string): number => rows.filter((t) => stateOf(t) === s).length;
  const n = rows.length;
  const items = [
    `'usable'=${rows.filter((t) => !['drained', 'capped', 'down', 'unknown'].includes(stateOf(t))).length};;;0;${n}`,
    ...['drained', 'capped', 'down', 'suspended'].map((s) => `'${s}'=${count(s)};;;0;${n}`),
    `'suspensions'=${report.suspensions.length};;;0`,
    ...rows.map((t) => `'${t.transport.replace(/'/g, '')} share'=${(100 * t.effectiveShare).toFixed(1)}%;;;0;100`),
  ];
  return items.join(' ');
}

export function runCheckHealth(configFile: string, statePath: string, opts: HealthOptions, out: (s: string) => void): number {
  let problems = '';
  const { report } = statusReport(configFile, statePath, (s) => { problems += s; });
  const verdict = judgeHealth(report, opts);
  out(`${verdict.line}\n`);
  // Long output (plugin convention): what made the file fail to load.
  if (problems !== '') out(problems.endsWith('\n') ? problems : `${problems}\n`);
  return verdict.code;
}
