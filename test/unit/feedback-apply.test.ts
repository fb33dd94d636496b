/**
 * Feedback's decisions applied to the trouble region (feedback/apply.ts) and
 * their log lines: each kind, the doubled hold of a failed trial and its
 * ceiling, the region kept small (ended suspensions and finished ramps
 * dropped), a full region giving way by end time, a reason cut with a mark,
 * and the administrators' mark-up and clear-suspension.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvent, clearSuspensions, idsOfService, markUp } from '../../src/feedback/apply.js';
import { describeEvent } from '../../src/feedback/engine.js';
import { parseConfig } from '../../src/config/parse.js';
import { MAX_SUSPENSIONS, SUSPENSION_REASON_BYTES } from '../../src/state/layout.js';
import type { TroubleState } from '../../src/balance/types.js';

const { pool } = parseConfig('feedback_hold = 60s\nfeedback_max_hold = 10m\nfeedback_ramp = 5m\n{1}smtp0:\n{1}smtp1:\n{1}smtp1:[other.example]\n', 't.cf');
const none = (): TroubleState => ({ health: [], suspensions: [] });
const [id0, id1, id1b] = [...idsOfService(pool, 'smtp0'), ...idsOfService(pool, 'smtp1')];

test('apply: a service\'s decision applies to every entry of it', () => {
  assert.equal(idsOfService(pool, 'smtp1').length, 2);
  assert.deepEqual(idsOfService(pool, 'smtp9'), []);
  const t = applyEvent(none(), pool, { kind: 'down', service: 'smtp1', failures: 3, reason: 'r' }, 1000);
  assert.deepEqual(t.health.map((h) => h.id).sort(), [id1, id1b].sort());
  assert.deepEqual(t.health[0], { id: t.health[0]!.id, down: true, failures: 3, sinceMs: 1000, retryAtMs: 61_000, rampMs: 300_000 });
});

test('apply: a failed trial doubles the hold, up to feedback_max_hold; up starts a ramp; ended things are dropped', () => {
  let t = applyEvent(none(), pool, { kind: 'down', service: 'smtp0', failures: 3, reason: 'r' }, 0);
  t = applyEvent(t, pool, { kind: 'failing', service: 'smtp0', failures: 4 }, 60_000);
  assert.equal(t.health[0]!.retryAtMs - t.health[0]!.sinceMs, 120_000, 'twice 60 s');
  t = applyEvent(t, pool, { kind: 'failing', service: 'smtp0', failures: 5 }, 200_000);
  assert.equal(t.health[0]!.retryAtMs - t.health[0]!.sinceMs, 240_000);
  for (let i = 0; i < 5; i++) t = applyEvent(t, pool, { kind: 'failing', service: 'smtp0', failures: 6 + i }, 1_000_000 * (i + 1));
  assert.equal(t.health[0]!.retryAtMs - t.health[0]!.sinceMs, 600_000, 'at most 10 min');
  const fresh = applyEvent(none(), pool, { kind: 'failing', service: 'smtp0', failures: 1 }, 0);
  assert.equal(fresh.health[0]!.retryAtMs, 120_000, 'failing with nothing known: twice the hold');
  t = applyEvent(t, pool, { kind: 'up', service: 'smtp0', rampMs: 300_000, via: 'delivery' }, 10_000_000);
  assert.deepEqual(t.health, [{ id: id0, down: false, failures: 0, sinceMs: 10_000_000, retryAtMs: 0, rampMs: 300_000 }]);
  // Another decision after the ramp ended drops the finished one; one still ramping is kept.
  const during = applyEvent(t, pool, { kind: 'suspend', service: 'smtp1', destination: 'a.example', untilMs: 20_000_000, reason: 'r' }, 10_299_999);
  assert.equal(during.health.length, 1, 'still ramping: kept');
  const after = applyEvent(t, pool, { kind: 'suspend', service: 'smtp1', destination: 'a.example', untilMs: 20_000_000, reason: 'r' }, 10_300_000);
  assert.equal(after.health.length, 0, 'ramp over: dropped');
  assert.equal(applyEvent(after, pool, { kind: 'down', service: 'smtp0', failures: 3, reason: 'r' }, 20_000_000).suspensions.length, 0, 'a suspension at its end is dropped');
  assert.equal(applyEvent(after, pool, { kind: 'down', service: 'smtp0', failures: 3, reason: 'r' }, 19_999_999).suspensions.length, 2);
});

test('apply: suspensions replace their own pair, a full region keeps the latest ends, a long reason is cut with a mark', () => {
  let t = applyEvent(none(), pool, { kind: 'suspend', service: 'smtp0', destination: 'a.example', untilMs: 5000, reason: 'first' }, 0);
  t = applyEvent(t, pool, { kind: 'suspend', service: 'smtp0', destination: 'a.example', untilMs: 9000, reason: 'again' }, 1);
  assert.deepEqual(t.suspensions, [{ id: id0, destination: 'a.example', untilMs: 9000, reason: 'again' }]);
  t = applyEvent(t, pool, { kind: 'suspend', service: 'smtp0', destination: 'b.example', untilMs: 8000, reason: 'b' }, 2);
  assert.deepEqual(t.suspensions.map((s) => s.destination), ['a.example', 'b.example'], 'latest end first');
  let full = none();
  for (let i = 0; i < MAX_SUSPENSIONS + 3; i++) full = applyEvent(full, pool, { kind: 'suspend', service: 'smtp0', destination: `d${i}.example`, untilMs: 10_000 + i, reason: 'r' }, 0);
  assert.equal(full.suspensions.length, MAX_SUSPENSIONS);
  assert.equal(Math.min(...full.suspensions.map((s) => s.untilMs)), 10_003, 'the three ending soonest gave way');
  const exact = 'r'.repeat(SUSPENSION_REASON_BYTES);
  assert.equal(applyEvent(none(), pool, { kind: 'suspend', service: 'smtp0', destination: 'x', untilMs: 1, reason: exact }, 0).suspensions[0]!.reason, exact);
  const cut = applyEvent(none(), pool, { kind: 'suspend', service: 'smtp0', destination: 'x', untilMs: 1, reason: `${exact}s` }, 0).suspensions[0]!.reason;
  assert.equal(cut.length, SUSPENSION_REASON_BYTES);
  assert.ok(cut.endsWith(' ...[cut]'));
});

test('apply: mark-up and clear-suspension, for one destination or all, only for the ids named', () => {
  let t = applyEvent(none(), pool, { kind: 'down', service: 'smtp0', failures: 3, reason: 'r' }, 0);
  t = applyEvent(t, pool, { kind: 'down', service: 'smtp1', failures: 3, reason: 'r' }, 0);
  t = applyEvent(t, pool, { kind: 'suspend', service: 'smtp0', destination: 'a.example', untilMs: 9000, reason: 'r' }, 0);
  t = applyEvent(t, pool, { kind: 'suspend', service: 'smtp0', destination: 'b.example', untilMs: 9000, reason: 'r' }, 0);
  t = applyEvent(t, pool, { kind: 'suspend', service: 'smtp1', destination: 'a.example', untilMs: 9000, reason: 'r' }, 0);
  const up = markUp(t, [id0!], 1);
  assert.deepEqual(up.health.map((h) => h.id).sort(), [id1, id1b].sort());
  assert.equal(up.suspensions.length, t.suspensions.length, 'mark-up leaves suspensions');
  const one = clearSuspensions(t, [id0!], 'a.example', 1);
  assert.deepEqual(one.suspensions.map((s) => `${s.id === id0 ? 0 : 1} ${s.destination}`).sort(), ['0 b.example', '1 a.example', '1 a.example']);
  const all = clearSuspensions(t, [id0!], undefined, 1);
  assert.equal(all.suspensions.filter((s) => s.id === id0).length, 0);
  assert.equal(all.health.length, t.health.length, 'clear-suspension leaves health');
  assert.equal(clearSuspensions(t, [id0!], undefined, 9000).suspensions.length, 0, 'and prunes what ended');
});

test('feedback events: one log line each, the remote text quoted', () => {
  assert.equal(describeEvent({ kind: 'down', service: 'smtp2', failures: 3, reason: 'connect to x: refused' }), 'smtp2: down after 3 connection failures: "connect to x: refused"');
  assert.equal(describeEvent({ kind: 'failing', service: 'smtp2', failures: 4 }), 'smtp2: still failing (4 connection failures in a row)');
  assert.equal(describeEvent({ kind: 'up', service: 'smtp2', rampMs: 300_000, via: 'probe' }), 'smtp2: up (its next hop answered probes with 220), ramping to full weight over 300s');
  assert.equal(describeEvent({ kind: 'up', service: 'smtp2', rampMs: 60_000, via: 'delivery' }), 'smtp2: up (a delivery reached its next hop), ramping to full weight over 60s');
  assert.equal(describeEvent({ kind: 'suspend', service: 'smtp1', destination: 'yahoo.com', untilMs: Date.UTC(2026, 11, 2, 9), reason: '421 "x"\n' }), 'smtp1: suspended for yahoo.com until 2026-12-02T09:00:00.000Z: "421 \\"x\\"\\n"');
});
