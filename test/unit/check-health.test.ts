/**
 * check-health's verdict (commands/check-health.ts) on status reports built
 * here: each state of the plugin conventions, and the warning share on both
 * sides of its bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEALTH, judgeHealth } from '../../src/commands/check-health.js';
import type { StatusReport } from '../../src/commands/status.js';

type Row = StatusReport['transports'][number];

function row(transport: string, priority: number, targetShare: number, over: Partial<Row> = {}): Row {
  return {
    transport, weight: 1, priority, drained: false, capped: false, active: priority === 0, targetShare,
    effectiveShare: priority === 0 ? targetShare : 0, picks: 0, actualShare: null, repeats: 0, health: 'up', suspendedFor: [], ...over,
  };
}

function report(transports: Row[], over: Partial<StatusReport> = {}): StatusReport {
  return {
    config: { file: '/etc/postfix/postbal.cf', valid: true, algorithm: 'wrr', fallback: null },
    state: { path: '/var/lib/postbal/postbal.state', status: 'ok', samePool: true },
    activePriority: 0,
    transports,
    warmup: [],
    suspensions: [],
    ...over,
  };
}

const opts = { warningShare: 0.25 };
const healthy = (): Row[] => [row('smtp0:', 0, 0.5), row('smtp1:', 0, 0.25), row('smtp2:', 0, 0.25), row('backup:', 1, 1)];

test('check-health: OK, one line with perfdata, exit 0', () => {
  const v = judgeHealth(report(healthy()), opts);
  assert.equal(v.code, HEALTH.OK);
  assert.match(v.line, /^POSTBAL OK - 3 of 4 transports take new mail at priority 0 \| 'usable'=4;;;0;4 'drained'=0;;;0;4 .*'smtp0: share'=50\.0%;;;0;100/);
  assert.equal(v.line.split('\n').length, 1);
});

test('check-health: CRITICAL when the preferred tier has nothing usable (mail on the backup tier), naming each and why', () => {
  const rows = healthy().map((t) => (t.priority === 0 ? { ...t, drained: t.transport !== 'smtp2:', health: t.transport === 'smtp2:' ? 'down until 2026-12-02T12:00:00.000Z' : 'up', active: false, effectiveShare: 0 } : { ...t, active: true }));
  const v = judgeHealth(report(rows, { activePriority: 1 }), opts);
  assert.equal(v.code, HEALTH.CRITICAL);
  assert.match(v.line, /^POSTBAL CRITICAL - priority 0 tier has no usable transport \(smtp0: drained, smtp1: drained, smtp2: down\); new mail goes to priority 1/);
});

test('check-health: CRITICAL when nothing can take mail; WARNING when only a backup tier is empty', () => {
  const none = healthy().map((t) => ({ ...t, drained: true, active: false, effectiveShare: 0 }));
  const v = judgeHealth(report(none, { activePriority: null }), opts);
  assert.equal(v.code, HEALTH.CRITICAL);
  assert.match(v.line, /no transport can take new mail/);
  const backupGone = healthy().map((t) => (t.priority === 1 ? { ...t, drained: true } : t));
  const w = judgeHealth(report(backupGone), opts);
  assert.equal(w.code, HEALTH.WARNING);
  assert.match(w.line, /^POSTBAL WARNING - priority 1 tier has no usable transport \(backup: drained\)/);
});

test('check-health: CRITICAL when the pool file cannot be loaded, with or without the last good copy', () => {
  const kept = report(healthy(), { config: { file: '/etc/postfix/postbal.cf', valid: false, lastGood: { path: '/var/lib/postbal/postbal.state.last-good.cf', source: '/etc/postfix/postbal.cf', loadedAt: '2026-12-01T10:00:00.000Z', sha256: 'a'.repeat(64) } } });
  assert.equal(judgeHealth(kept, opts).code, HEALTH.CRITICAL);
  assert.match(judgeHealth(kept, opts).line, /last good copy from 2026-12-01T10:00:00.000Z/);
  const broken = report([], { config: { file: '/etc/postfix/postbal.cf', valid: false }, activePriority: null });
  assert.match(judgeHealth(broken, opts).line, /^POSTBAL CRITICAL - \/etc\/postfix\/postbal.cf cannot be loaded and there is no last good copy/);
});

test('check-health: UNKNOWN when the state cannot be read; a state not created yet is no problem', () => {
  const unreadable = report(healthy().map((t) => ({ ...t, drained: null, health: 'unknown' })), { state: { path: '/s', status: 'UNKNOWN: cannot open state file (EACCES)', samePool: false } });
  assert.equal(judgeHealth(unreadable, opts).code, HEALTH.UNKNOWN);
  const fresh = report(healthy(), { state: { path: '/s', status: 'none yet: the first lookup of a serving instance creates it', samePool: false } });
  assert.equal(judgeHealth(fresh, opts).code, HEALTH.OK);
});

test('check-health: WARNING for a transport down, whatever its share', () => {
  const rows = healthy().map((t) => (t.transport === 'smtp2:' ? { ...t, health: 'trial' } : t));
  const v = judgeHealth(report(rows), opts);
  assert.equal(v.code, HEALTH.WARNING);
  assert.match(v.line, /down: smtp2: \(trial\)/);
});

test('check-health: suspensions warn from the warning share of the tier\'s weight up, not below', () => {
  const at = healthy().map((t) => (t.transport === 'smtp1:' ? { ...t, suspendedFor: ['gmail.com', 'yahoo.com'] } : t));
  const v = judgeHealth(report(at), opts);
  assert.equal(v.code, HEALTH.WARNING, 'exactly 25%');
  assert.match(v.line, /priority 0: 25% of its weight held back by feedback \(suspended: smtp1: for 2 destinations\)/);
  assert.equal(judgeHealth(report(at), { warningShare: 0.26 }).code, HEALTH.OK, '25% against a 26% bound');
  const one = healthy().map((t) => (t.transport === 'smtp0:' ? { ...t, suspendedFor: ['gmail.com'] } : t));
  assert.match(judgeHealth(report(one), opts).line, /50% of its weight held back by feedback \(suspended: smtp0: for 1 destination\)/);
});
