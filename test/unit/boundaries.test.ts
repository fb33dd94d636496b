/**
 * Boundaries on both sides, and directives that must reach the code they
 * configure: each case here is one that a bug planted by hand got past the
 * other tests with (issue 19's list).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rollDay, type WarmupRecord } from '../../src/balance/warmup.js';
import { parseConfig } from '../../src/config/parse.js';
import { FeedbackEngine } from '../../src/feedback/engine.js';
import { percentEncode, percentEncodeBytes } from '../../src/protocol/percent.js';
import type { Delivery } from '../../src/feedback/types.js';

test('warm-up: a day advances its stage at 90% of its cap and not one answer below (both sides of the boundary)', () => {
  for (const [cap, below, at] of [[100, 89, 90], [200, 179, 180], [7, 6, 7], [1000, 899, 900]] as const) {
    const rec = (count: number): WarmupRecord => ({ id: 1, stage: 0, day: 10, count, sinceMs: 1 });
    assert.equal(rollDay(rec(below), [cap, cap * 2], { day: 11, hour: 0 }).advanced, undefined, `cap ${cap}: ${below} repeats the stage`);
    assert.deepEqual(rollDay(rec(at), [cap, cap * 2], { day: 11, hour: 0 }).advanced, { from: 0, to: 1, count: at, cap }, `cap ${cap}: ${at} advances`);
  }
});

test('feedback directives reach the engine: a configured suspension TTL, window and count are the ones used', () => {
  const { feedback } = parseConfig('feedback_suspend_ttl = 2h\nfeedback_suspend_after = 2\nfeedback_suspend_window = 90s\n{1}smtp0:\n', 'f.cf').pool;
  const e = new FeedbackEngine(feedback);
  const d: Delivery = { queueId: 'ABCDE', recipient: 'u@example.net', domain: 'example.net', relayHost: 'mx.example.net', dsn: '4.7.0', status: 'deferred', reason: 'host mx.example.net[192.0.2.1] said: 421 4.7.0 slow down' };
  assert.deepEqual(e.observe('smtp0', d, 'throttled', 0), []);
  // 91 s later the first one has left the 90 s window: no suspension yet.
  assert.deepEqual(e.observe('smtp0', d, 'throttled', 91_000), []);
  const s = e.observe('smtp0', d, 'throttled', 100_000);
  assert.equal(s.length, 1, 'the second within the window suspends (feedback_suspend_after = 2)');
  assert.equal(s[0]!.kind === 'suspend' ? s[0]!.untilMs : 0, 100_000 + 2 * 3_600_000, 'for the configured 2 h, not the default 1 h');
});

test('config: the documented weight range holds at both ends (1 and 1,000,000 accepted; 0 and 1,000,001 refused)', () => {
  assert.deepEqual(parseConfig('{1}smtp0:\n{1000000}smtp1:\n', 'w.cf').pool.transports.map((t) => t.weight), [1, 1_000_000]);
  for (const bad of ['0', '1000001']) {
    assert.throws(() => parseConfig(`{${bad}}smtp0:\n`, 'w.cf'), new RegExp(`w\\.cf:1: weight: expected an integer from 1 to 1000000, got "${bad}"`));
  }
});

test('%-encoding: DEL and every control byte are encoded, printable ASCII is not (both sides of each range)', () => {
  for (const c of ['\u0000', '\u001f', '\u007f', ' ', '%', '\u0080', '\u00ff']) {
    assert.match(percentEncode(`a${c}b`), /^a(%[0-9A-F]{2})+b$/, JSON.stringify(c));
  }
  for (const c of ['!', '~', 'A', '@', '"']) assert.equal(percentEncode(`a${c}b`), `a${c}b`, c);
  assert.equal(percentEncodeBytes('x\u007fy'), 'x%7Fy');
});
