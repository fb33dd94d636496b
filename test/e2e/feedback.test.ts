/**
 * The closed loop with a real Postfix: a relay answering 421 and a closed
 * next hop among transports 3:2:1; postbal feedback reads the maillog and
 * the instances route around both. The same run without feedback takes
 * minutes (`npm run bench:feedback` prints both). Skipped loudly (and failed
 * under CI) where Postfix cannot run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { postfixUnavailable } from './lab.js';
import { deliverAll, startTroubledRelay } from './trouble-lab.js';

const MESSAGES = 1000;

test('feedback: 1,000 messages past a 421 relay and a closed next hop, every one delivered, few deferrals; the hop comes back after it opens', { timeout: 1_200_000 }, async (t) => {
  if (postfixUnavailable(t)) return;
  const relay = await startTroubledRelay(true);
  try {
    // The time is a guard against a hang; how fast is npm run bench:feedback's to measure.
    const run = await deliverAll(relay, MESSAGES, 600_000);
    t.diagnostic(`with feedback: ${MESSAGES} messages in ${run.seconds.toFixed(1)} s, ${run.deferred} deferrals; delivered by ${[...run.sent].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    t.diagnostic(`decisions: ${relay.decisions().trim().split('\n').join(' | ')}`);
    assert.equal([...run.sent.values()].reduce((a, b) => a + b, 0), MESSAGES, 'every message delivered');
    assert.ok((run.sent.get('smtp0') ?? 0) >= MESSAGES * 0.98, 'by the transport that works');
    assert.match(relay.decisions(), /smtp2: down after 3 connection failures/);
    assert.match(relay.decisions(), /smtp1: suspended for remote\.example/);
    assert.doesNotMatch(relay.decisions(), /STDERR/);
    // The issue's goal: at most 50 deferrals (without feedback: 1,539). Its 30 s is a speed, for
    // npm run bench:feedback on a quiet machine (measured there: 6.2 s), not for a test.
    assert.ok(run.deferred <= 50, `${run.deferred} deferrals`);
    // The closed hop opens: after the hold, a trial share reaches it, and it is up again.
    await relay.openClosedHop();
    const until = Date.now() + 600_000;
    let back = 0;
    while (back === 0 && Date.now() < until) {
      const more = await deliverAll(relay, 100, 60_000);
      back = more.sent.get('smtp2') ?? 0;
      if (back === 0) await sleep(2000);
    }
    t.diagnostic(`smtp2 delivered again (${back} of a batch of 100) after its next hop opened; ${relay.decisions().trim().split('\n').at(-1)}`);
    assert.ok(back > 0, 'smtp2 never delivered after its next hop opened');
    const upLine = /smtp2: up \((its next hop answered probes with 220|a delivery reached its next hop)\)/;
    for (const guard = Date.now() + 120_000; !upLine.test(relay.decisions()) && Date.now() < guard;) await sleep(100);
    assert.match(relay.decisions(), upLine);
    assert.match(relay.lab.control(['status']).stdout, /smtp2:\S+ .*(RAMP|active)/);
  } finally {
    relay.stop();
  }
});
