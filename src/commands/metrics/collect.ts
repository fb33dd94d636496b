import type * as PromClient from 'prom-client';
import type { Metric, Registry } from 'prom-client';
import { lazyRequire } from '../../lazy-require.js';
import { TRANSPORT_STATES, stateOf, type StatusReport } from '../status.js';
import type { PolicyStatusReport } from '../policy-status.js';
import { printable } from '../../log/format.js';
import {
  FEEDBACK_DECISIONS, FEEDBACK_LINES, LOCK_WAIT_BUCKETS, LOOKUP_OUTCOMES, MEMORY_REASONS, type Tally,
} from '../../state/tally.js';

/**
 * One scrape: what `postbal status` reads (config, state, trouble, warm-up),
 * the tally region's counters and the policy board, as Prometheus metrics.
 * Built afresh per scrape, so a suspension that ended or a transport taken
 * out of the pool leaves no stale series behind. Label values that came from
 * outside (a destination, a remote reply) are bounded and made printable.
 */
export interface ScrapeFacts {
  readonly version: string;
  readonly report: StatusReport;
  readonly tally: Tally;
  /** sha256 of the config file's bytes, when it could be read. */
  readonly configSha256: string | undefined;
  /** When a serving instance last loaded this config (the last-good copy's time), in ms. */
  readonly configLoadedMs: number | undefined;
  readonly policy: PolicyStatusReport | undefined;
}

/** Loaded when a scrape is built, never by a serving instance (start-up is on the mail path). */
const prom = (): typeof PromClient => lazyRequire<typeof PromClient>('prom-client');

/**
 * Loads prom-client now: called before a command run as root takes the
 * state owner's identity, which may not be able to read where postbal is
 * installed (a checkout in a 0700 directory: every scrape failed with 500).
 */
export function loadMetricsLibrary(): void {
  prom();
}

const label = (s: string, max = 120): string => printable(s).slice(0, max);

type Labels = Record<string, string>;

/**
 * Values read elsewhere (the state, the tally, the board), handed to
 * prom-client as they are, in its custom-metric form: it formats and escapes
 * them without the per-sample label hashing and validation a live Gauge does
 * (half the scrape's time, measured; label names here are constants, and
 * promtool checks the output in the tests).
 */
function fixed(r: Registry, type: 'gauge' | 'counter', name: string, help: string, rows: readonly (readonly [Labels, number])[]): void {
  const data = { name, help, type, aggregator: 'sum', values: rows.map(([labels, value]) => ({ labels, value })) };
  r.registerMetric({ ...data, get: () => data } as unknown as Metric);
}

const gauge = (r: Registry, name: string, help: string, rows: readonly (readonly [Labels, number])[]): void => fixed(r, 'gauge', name, help, rows);
const counter = (r: Registry, name: string, help: string, rows: readonly (readonly [Labels, number])[]): void => fixed(r, 'counter', name, help, rows);

/** A histogram whose buckets were counted elsewhere (the tally region): prom-client's custom-metric form. */
function storedHistogram(r: Registry, name: string, help: string, tally: Tally, key: string, buckets: readonly number[]): void {
  let cumulative = 0;
  const values = [...buckets.map(String), '+Inf'].map((le) => {
    cumulative += tally.get(`${key}:${le}`) ?? 0;
    return { labels: { le }, value: cumulative, metricName: `${name}_bucket` };
  });
  values.push({ labels: {} as { le: string }, value: tally.get(`${key}:sum`) ?? 0, metricName: `${name}_sum` });
  values.push({ labels: {} as { le: string }, value: tally.get(`${key}:count`) ?? 0, metricName: `${name}_count` });
  const metric = { name, help, type: 'histogram', aggregator: 'sum', get: () => ({ name, help, type: 'histogram', aggregator: 'sum', values }) };
  r.registerMetric(metric as unknown as Metric);
}

export function collect(f: ScrapeFacts): Registry {
  const r = new (prom().Registry)();
  processFacts(r, f);
  transportFacts(r, f.report);
  tallyFacts(r, f.tally);
  if (f.policy) policyFacts(r, f.policy);
  return r;
}

function processFacts(r: Registry, f: ScrapeFacts): void {
  const { config, state } = f.report;
  gauge(r, 'postbal_build_info', 'postbal\'s version (always 1)', [[{ version: f.version }, 1]]);
  gauge(r, 'postbal_config_info', 'The pool file and the sha256 of its bytes (always 1)', [[{ file: label(config.file, 240), sha256: f.configSha256 ?? '' }, 1]]);
  gauge(r, 'postbal_config_valid', '1 when the pool file loads cleanly', [[{}, config.valid ? 1 : 0]]);
  gauge(r, 'postbal_config_last_good_in_use', '1 when the pool file cannot be loaded and serving instances use the last good copy', [[{}, config.lastGood ? 1 : 0]]);
  if (f.configLoadedMs !== undefined) gauge(r, 'postbal_config_load_timestamp_seconds', 'When a serving instance last loaded this configuration (the last good copy was written)', [[{}, f.configLoadedMs / 1000]]);
  gauge(r, 'postbal_state_readable', '1 when the shared state file can be read (drain marks, health and counters are known)', [[{}, state.status === 'ok' ? 1 : 0]]);
  if (state.seq !== undefined) counter(r, 'postbal_state_picks_total', 'New picks since the state file was created (its position)', [[{}, state.seq]]);
  gauge(r, 'postbal_active_priority', 'The priority tier new picks come from; -1 when none can be used', [[{}, f.report.activePriority ?? -1]]);
}

function transportFacts(r: Registry, report: StatusReport): void {
  const ts = report.transports;
  const id = (t: StatusReport['transports'][number]): Labels => ({ transport: label(t.transport), priority: String(t.priority) });
  gauge(r, 'postbal_transport_weight', 'Configured weight', ts.map((t) => [id(t), t.weight]));
  gauge(r, 'postbal_transport_target_share_ratio', 'Share of its tier\'s weight, as configured', ts.map((t) => [id(t), t.targetShare]));
  gauge(r, 'postbal_transport_effective_share_ratio', 'Share of new picks it gets now (0 when held back or in a standby tier)', ts.map((t) => [id(t), t.effectiveShare]));
  gauge(r, 'postbal_transport_state', 'Why it gets what it gets now: 1 for its one state, most limiting first', ts.flatMap((t) => TRANSPORT_STATES.map((s) => [{ ...id(t), state: s }, stateOf(t) === s ? 1 : 0] as const)));
  gauge(r, 'postbal_transport_drained', '1 when drained by postbal drain', ts.map((t) => [id(t), t.drained ? 1 : 0]));
  gauge(r, 'postbal_transport_capped', '1 when a warming transport is at its cap for now', ts.map((t) => [id(t), t.capped ? 1 : 0]));
  gauge(r, 'postbal_transport_health', 'What postbal feedback found: 1 for its health (up, down, trial, ramp)', ts.flatMap((t) => ['up', 'down', 'trial', 'ramp'].map((h) => [{ ...id(t), health: h }, healthOf(t.health) === h ? 1 : 0] as const)));
  gauge(r, 'postbal_transport_suspended_destinations', 'Destinations postbal feedback suspended it for', ts.map((t) => [id(t), t.suspendedFor.length]));
  const counted = ts.filter((t) => t.picks !== null);
  counter(r, 'postbal_transport_picks_total', 'New picks since the counters were reset (postbal reset-stats)', counted.map((t) => [id(t), t.picks!]));
  counter(r, 'postbal_transport_repeats_total', 'Lookups answered with a remembered pick (Postfix asks twice per recipient)', counted.map((t) => [id(t), t.repeats ?? 0]));
  gauge(r, 'postbal_suspension_until_timestamp_seconds', 'A suspension in force: transport, destination, until when', report.suspensions.map((x) => [{ transport: label(x.transport), destination: label(x.destination, 64) }, Date.parse(x.until) / 1000]));
  const warm = report.warmup.filter((w) => w.provider === null);
  gauge(r, 'postbal_warmup_stage', 'Warm-up stage (1-based; stages + 1 once warmed)', warm.map((w) => [{ transport: label(w.transport) }, w.stage]));
  gauge(r, 'postbal_warmup_stages', 'Warm-up stages configured', warm.map((w) => [{ transport: label(w.transport) }, w.stages]));
  gauge(r, 'postbal_warmup_sent_today', 'New answers today (local time) of a warming transport', warm.map((w) => [{ transport: label(w.transport) }, w.today]));
  gauge(r, 'postbal_warmup_cap_today', 'Today\'s cap of a warming transport', warm.filter((w) => w.cap !== null).map((w) => [{ transport: label(w.transport) }, w.cap!]));
  gauge(r, 'postbal_warmup_allowed_now', 'How much of today\'s cap the pacing opens by now', warm.filter((w) => w.allowedNow !== null).map((w) => [{ transport: label(w.transport) }, w.allowedNow!]));
}

function healthOf(h: string): string {
  if (h.startsWith('down')) return 'down';
  if (h.startsWith('ramping')) return 'ramp';
  return h;
}

function tallyFacts(r: Registry, tally: Tally): void {
  const get = (k: string): number => tally.get(k) ?? 0;
  counter(r, 'postbal_lookups_total', 'Lookups by answer (new, repeat, fallback, not_found, tempfail, permfail) and why', LOOKUP_OUTCOMES.map((o) => {
    const [answer, reason] = o.split('/') as [string, string];
    return [{ answer, reason }, get(`lookup:${o}`)];
  }));
  counter(r, 'postbal_memory_lookups_total', 'Lookups answered from memory (not shared) instead of the state file, and why', MEMORY_REASONS.map((m) => [{ reason: m }, get(`memory:${m}`)]));
  storedHistogram(r, 'postbal_lock_wait_seconds', 'Time a transaction waited for the state file\'s lock', tally, 'lock_wait', LOCK_WAIT_BUCKETS);
  counter(r, 'postbal_feedback_lines_total', 'Log lines postbal feedback read, by verdict (believed, untrusted, refused, other)', FEEDBACK_LINES.map((l) => [{ verdict: l }, get(`feedback_line:${l}`)]));
  counter(r, 'postbal_feedback_decisions_total', 'Decisions postbal feedback took, by kind (down, failing, up, suspend)', FEEDBACK_DECISIONS.map((d) => [{ kind: d }, get(`feedback_decision:${d}`)]));
}

function policyFacts(r: Registry, p: PolicyStatusReport): void {
  const id = (s: PolicyStatusReport['services'][number]): Labels => ({ service: label(s.service), priority: String(s.priority) });
  counter(r, 'postbal_policy_requests_total', 'Policy requests every postbal policy instance answered', [[{}, p.requests]]);
  counter(r, 'postbal_policy_default_answers_total', 'Requests answered with the default action (no service answered)', [[{}, p.defaults]]);
  counter(r, 'postbal_policy_failovers_total', 'Requests that went on to another service after one failed', [[{}, p.failovers]]);
  gauge(r, 'postbal_policy_default_in_use', '1 while no service answers and the default action is given', [[{}, p.allDown ? 1 : 0]]);
  counter(r, 'postbal_policy_answers_total', 'Requests a service answered', p.services.map((s) => [id(s), s.answered]));
  counter(r, 'postbal_policy_failures_total', 'Requests a service failed', p.services.map((s) => [id(s), s.failures]));
  counter(r, 'postbal_policy_answer_seconds_total', 'Time services took to answer, summed (divide by answers for the mean)', p.services.map((s) => [id(s), s.latencySumMs / 1000]));
  gauge(r, 'postbal_policy_breaker_open', '1 while a service\'s breaker is open (skipped; a trial is due when the time is up)', p.services.map((s) => [id(s), s.health === 'up' ? 0 : 1]));
  gauge(r, 'postbal_policy_weight', 'Configured weight of a service', p.services.map((s) => [id(s), s.weight]));
}
