// Writes examples/grafana/postbal.json, the Grafana dashboard (kept in git, so
// users need not run this): `node scripts/grafana-dashboard.mjs`. Every panel's
// query is run against a real Prometheus by test/e2e/monitoring.test.ts.
import { writeFileSync } from 'node:fs';
const ds = { type: 'prometheus', uid: '${datasource}' };
let id = 0;
const panel = (title, description, targets, { x, y, w = 12, h = 8, unit, type = 'timeseries', max, extra = {} }) => ({
  id: ++id, type, title, description, datasource: ds,
  gridPos: { x, y, w, h },
  fieldConfig: { defaults: { ...(unit ? { unit } : {}), ...(max !== undefined ? { max, min: 0 } : {}) }, overrides: [] },
  options: type === 'timeseries' ? { legend: { displayMode: 'table', placement: 'right', calcs: ['lastNotNull'] }, tooltip: { mode: 'multi' } } : {},
  targets: targets.map(([expr, legendFormat], i) => ({ datasource: ds, refId: String.fromCharCode(65 + i), expr, legendFormat })),
  ...extra,
});
const sel = 'transport=~"$transport"';
const panels = [
  panel('Shares of new picks against weights', 'Each transport\'s share of new picks (solid) against its configured share of its tier (target). A transport below its target is held back: see the next panel for why.', [
    [`sum by (transport) (rate(postbal_transport_picks_total{${sel}}[$__rate_interval])) / ignoring (transport) group_left sum(rate(postbal_transport_picks_total[$__rate_interval]))`, '{{transport}} actual'],
    [`postbal_transport_target_share_ratio{${sel}}`, '{{transport}} target'],
  ], { x: 0, y: 0, unit: 'percentunit', max: 1 }),
  panel('Why a transport gets less than its weight', 'The one state of each transport, most limiting first: active, standby (a lower tier serves), drained (postbal drain), capped (warm-up cap for now), down, trial, ramp (postbal feedback), suspended (for some destinations).', [
    [`postbal_transport_state{${sel}} == 1`, '{{transport}} {{state}}'],
  ], { x: 12, y: 0, type: 'state-timeline', extra: { options: { showValue: 'never', mergeValues: true } } }),
  panel('Effective share now', 'The share of new picks each transport gets now, after drains, caps, feedback and tiers; 0 for a transport held back or in a standby tier.', [
    [`postbal_transport_effective_share_ratio{${sel}}`, '{{transport}}'],
  ], { x: 0, y: 8, unit: 'percentunit', max: 1 }),
  panel('Suspensions by transport', 'Destinations postbal feedback suspended each transport for (it takes none of their mail until the suspension ends). Each suspension is also a series of postbal_suspension_until_timestamp_seconds with its destination.', [
    [`postbal_transport_suspended_destinations{${sel}}`, '{{transport}}'],
  ], { x: 12, y: 8 }),
  panel('Warm-up progress toward today\'s cap', 'New answers today of each warming transport against its cap for the day, and its stage.', [
    [`postbal_warmup_sent_today{${sel}} / postbal_warmup_cap_today{${sel}}`, '{{transport}} of cap'],
  ], { x: 0, y: 16, unit: 'percentunit', max: 1 }),
  panel('Warm-up stage', 'Stage of each warming transport (stages + 1 once warmed).', [
    [`postbal_warmup_stage{${sel}}`, '{{transport}} stage'],
  ], { x: 12, y: 16, type: 'stat' }),
  panel('Lookups by answer', 'Lookups per second: new picks, repeats of a remembered pick, the fallback, not found (wildcard, out of scope, nothing available), temporary and permanent failures.', [
    ['sum by (answer, reason) (rate(postbal_lookups_total[$__rate_interval]))', '{{answer}} {{reason}}'],
    ['sum by (reason) (rate(postbal_memory_lookups_total[$__rate_interval]))', 'from memory: {{reason}}'],
  ], { x: 0, y: 24, unit: 'reqps' }),
  panel('State lock wait', 'How long transactions waited for the state file\'s lock (99th percentile and median).', [
    ['histogram_quantile(0.99, sum by (le) (rate(postbal_lock_wait_seconds_bucket[$__rate_interval])))', 'p99'],
    ['histogram_quantile(0.5, sum by (le) (rate(postbal_lock_wait_seconds_bucket[$__rate_interval])))', 'p50'],
  ], { x: 12, y: 24, unit: 's' }),
  panel('Feedback: log lines and decisions', 'Lines postbal feedback read per second by verdict (believed, untrusted, refused, other), and its decisions.', [
    ['sum by (verdict) (rate(postbal_feedback_lines_total[$__rate_interval]))', 'lines {{verdict}}'],
    ['sum by (kind) (increase(postbal_feedback_decisions_total[$__rate_interval]))', 'decisions {{kind}}'],
  ], { x: 0, y: 32 }),
  panel('Policy services', 'postbal policy: answers per second by service, failovers and default answers, and each breaker (1: open, the service is skipped).', [
    ['sum by (service) (rate(postbal_policy_answers_total[$__rate_interval]))', 'answers {{service}}'],
    ['rate(postbal_policy_failovers_total[$__rate_interval])', 'failovers'],
    ['rate(postbal_policy_default_answers_total[$__rate_interval])', 'default answers'],
    ['postbal_policy_breaker_open', 'breaker open {{service}}'],
  ], { x: 12, y: 32 }),
  panel('Configuration', '1 when the pool file loads cleanly; 1 when serving instances use the last good copy (the file is broken); the state file readable.', [
    ['postbal_config_valid', 'valid'],
    ['postbal_config_last_good_in_use', 'last good copy in use'],
    ['postbal_state_readable', 'state readable'],
  ], { x: 0, y: 40, w: 24, h: 5, type: 'stat' }),
];
const dash = {
  __requires: [{ type: 'grafana', id: 'grafana', name: 'Grafana', version: '9.0.0' }, { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' }],
  title: 'postbal', uid: 'postbal', tags: ['postfix', 'postbal'], timezone: 'browser', schemaVersion: 37, version: 1, editable: true,
  time: { from: 'now-6h', to: 'now' }, refresh: '30s',
  templating: { list: [
    { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' },
    { name: 'transport', type: 'query', datasource: ds, query: 'label_values(postbal_transport_weight, transport)', includeAll: true, multi: true, allValue: '.*', current: { text: 'All', value: '$__all' }, refresh: 2, label: 'Transport' },
  ] },
  panels,
};
writeFileSync(new URL('../examples/grafana/postbal.json', import.meta.url), `${JSON.stringify(dash, null, 2)}\n`);
