/**
 * The three-host lab (test/e2e/fleet-lab.ts): three private Postfix
 * instances and one Redis. A warm-up cap of 300 is the fleet's; a drain on
 * one host holds on the others; Redis stopped and restarted empty loses no
 * message, no drain and exceeds no cap; a dead next hop learned by one
 * host's feedback is avoided by the others before they fail on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postfixUnavailable } from './lab.js';
import { faketimeUnavailable } from '../helpers/faketime.js';
import { redisUnavailable } from '../helpers/redis.js';
import { runFleetLab } from './fleet-lab.js';

// 600 a host exhausts the cap as 1,000 do (smtp2 could take 600 of 1,800); npm run lab:fleet runs 1,000.
const MESSAGES = 600;

test('fleet lab: three Postfix hosts, one Redis: fleet cap, drain, outages, a dead hop learned once', { timeout: 1_800_000 }, async (t) => {
  if (postfixUnavailable(t) || faketimeUnavailable(t, 'FLEET LAB') || redisUnavailable(t, 'FLEET LAB')) return;
  const f = await runFleetLab(MESSAGES, (s) => t.diagnostic(s));
  assert.deepEqual(f.delivered, [MESSAGES, MESSAGES, MESSAGES]);
  const capped = f.capped.reduce((x, y) => x + y, 0);
  assert.ok(capped <= 300, `the fleet cap was exceeded: ${capped}`);
  // Recipients are counted once, so the whole cap is used (the single-host warm-up test allows one short).
  assert.ok(capped >= 297, `smtp2 delivered only ${capped} of 300`);
  assert.equal(f.afterDrain, 0, 'smtp1 took new mail on another host 1 s after its drain');
  assert.deepEqual(f.outage.delivered, [MESSAGES, MESSAGES, MESSAGES]);
  assert.ok(capped + f.outage.capped <= 300, `the cap was exceeded through the outages: ${capped} + ${f.outage.capped}`);
  assert.equal(f.outage.drainedAnswers, 0, 'the drain was lost through the outages');
  assert.deepEqual(f.outage.lost, [2, 2, 2]);
  assert.deepEqual(f.outage.back, [2, 2, 2]);
  assert.deepEqual(f.deadHop.delivered, [300, 300]);
  assert.deepEqual(f.deadHop.ownFailures, [0, 0], 'hostb or hostc failed on the dead hop themselves');
});
