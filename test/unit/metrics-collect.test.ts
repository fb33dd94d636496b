/**
 * A scrape built from a status report (commands/metrics/collect.ts): text
 * that came from outside (a destination feedback read from a remote reply)
 * reaches a label bounded and printable, so it cannot add a line or a sample.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect } from '../../src/commands/metrics/collect.js';
import type { StatusReport } from '../../src/commands/status.js';

test('metrics: a hostile destination is one label value, printable, at most 64 characters; the state is one-hot', async () => {
  const hostile = `evil.example"} 1\npostbal_fake 9\n${'x'.repeat(200)}`;
  const report: StatusReport = {
    config: { file: '/etc/postfix/postbal.cf', valid: true, algorithm: 'wrr', fallback: null },
    state: { path: '/s', status: 'ok', samePool: true },
    activePriority: 0,
    transports: [{
      transport: 'smtp0:', weight: 1, priority: 0, drained: false, capped: false, active: true, targetShare: 1, effectiveShare: 1,
      picks: 3, actualShare: 1, repeats: 2, health: 'up', suspendedFor: [hostile],
    }],
    warmup: [],
    suspensions: [{ transport: 'smtp0:', destination: hostile, until: '2026-12-02T12:00:00.000Z', reason: 'r' }],
  };
  const text = await collect({ version: 't', report, tally: new Map(), configSha256: undefined, configLoadedMs: undefined, policy: undefined }).metrics();
  assert.ok(!/^postbal_fake/m.test(text), 'no sample smuggled in');
  const line = text.split('\n').find((l) => l.startsWith('postbal_suspension_until_timestamp_seconds{'))!;
  const value = /destination="((?:[^"\\]|\\.)*)"/.exec(line)![1]!;
  assert.ok(value.length <= 64 + 8, `bounded: ${value.length}`);
  assert.ok(!/[\n\r]/.test(value));
  assert.equal(Date.parse('2026-12-02T12:00:00.000Z') / 1000, Number(line.split(' ').at(-1)));
  const states = text.split('\n').filter((l) => l.startsWith('postbal_transport_state{'));
  assert.equal(states.length, 9);
  assert.deepEqual(states.filter((l) => l.endsWith(' 1')), ['postbal_transport_state{transport="smtp0:",priority="0",state="suspended"} 1']);
});
