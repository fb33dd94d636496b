/**
 * The eligibility view (balance/eligibility/view.ts) with the clock passed
 * in: computed again only when flags, trouble or (while trouble is known)
 * the second change; one log line per change of who is excluded; per-key
 * suspensions; a counting rule's override; automatic rules never leaving a
 * key with no answer unless a fallback is configured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EligibilityView } from '../../src/balance/eligibility/view.js';
import { DRAINED } from '../../src/balance/eligibility/drain.js';
import { CAPPED } from '../../src/balance/eligibility/warmup.js';
import { TRIAL_FACTOR } from '../../src/balance/eligibility/health.js';
import { parseConfig } from '../../src/config/parse.js';
import { hashLo } from '../../src/keys/hash.js';
import type { TroubleState } from '../../src/balance/types.js';

function setUp(text = '{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n{1}smtp9: priority=5\n') {
  const { pool } = parseConfig(text, 't.cf');
  const lines: string[] = [];
  const view = new EligibilityView(pool, (level, line) => lines.push(`${level}: ${line}`));
  const ids = pool.memberHashes.map(hashLo);
  return { pool, view, lines, ids };
}

test('view: the same answer while nothing changes (the same object), a new one when flags or trouble do; a log line per change only', () => {
  const { view, lines } = setUp();
  const a = view.update([0, 0, 0, 0], 0, undefined, 1000);
  assert.equal(view.update([0, 0, 0, 0], 0, undefined, 99_000), a, 'no trouble: time alone changes nothing');
  assert.deepEqual(lines, [], 'nothing excluded, nothing said');
  const b = view.update([DRAINED, 0, 0, 0], 0, undefined, 1000);
  assert.notEqual(b, a);
  assert.deepEqual(b.members, [false, true, true, false]);
  assert.equal(lines.length, 1);
  assert.equal(lines[0], 'info: drained: smtp0:; picking from priority 0: smtp1: smtp2:');
  view.update((i) => [DRAINED, 0, 0, 0][i]!, 0, undefined, 2000);
  assert.equal(lines.length, 1, 'the same exclusion: not said again (flags as a function too)');
  const all = view.update([DRAINED, DRAINED, DRAINED, DRAINED], 0, undefined, 3000);
  assert.equal(all.priority, undefined);
  assert.match(lines[1]!, /^warning: /, 'none left: a warning');
  view.update([0, 0, 0, 0], 0, undefined, 4000);
  assert.equal(lines.length, 3, 'back: said');
});

test('view: while trouble is known it is computed again each second (a ramp moves on), and a new generation replaces the region', () => {
  const { view, ids } = setUp('{1}smtp0:\n{1}smtp1:\n');
  const ramp: TroubleState = { health: [{ id: ids[0]!, down: false, failures: 0, sinceMs: 1000, retryAtMs: 0, rampMs: 10_000 }], suspensions: [] };
  const at0 = view.update([0, 0], 1, ramp, 1000);
  assert.equal(at0.weights[0], TRIAL_FACTOR, 'a ramp starts at the trial share');
  assert.equal(view.update([0, 0], 1, undefined, 1999), at0, 'within the same second: the same');
  assert.equal(view.update([0, 0], 1, undefined, 6000).weights[0], 0.5, 'half way: half the weight');
  assert.equal(view.update([0, 0], 1, undefined, 11_000).weights[0], 1);
  assert.equal(view.troubleGen, 1);
  const down: TroubleState = { health: [{ id: ids[1]!, down: true, failures: 3, sinceMs: 0, retryAtMs: 60_000, rampMs: 0 }], suspensions: [] };
  assert.deepEqual(view.update([0, 0], 2, down, 11_000).members, [true, false], 'generation 2: smtp1 down');
  assert.equal(view.troubleGen, 2);
  assert.deepEqual(view.update([0, 0], 2, undefined, 60_000).weights, [1, TRIAL_FACTOR], 'its retry time: a trial share');
});

test('view: a suspension excludes its member for its destination\'s keys only, until it ends', () => {
  const { view, ids } = setUp('{1}smtp0:\n{1}smtp1:\n');
  const t: TroubleState = { health: [], suspensions: [{ id: ids[0]!, destination: 'yahoo.com', untilMs: 5000, reason: 'r' }, { id: ids[1]!, destination: 'aol.com', untilMs: 5000, reason: 'r' }] };
  view.update([0, 0], 1, t, 0);
  assert.deepEqual(view.forKey('u@yahoo.com', 0).members, [false, true]);
  assert.deepEqual(view.forKey('u@mx.YAHOO.com', 0).members, [false, true]);
  assert.deepEqual(view.forKey('u@aol.com', 0).members, [true, false]);
  assert.deepEqual(view.forKey('u@other.example', 0).members, [true, true]);
  view.update([0, 0], 1, undefined, 5000);
  assert.deepEqual(view.forKey('u@yahoo.com', 5000).members, [true, true], 'ended at its time');
});

test('view: automatic rules leaving nothing answer as if they did not apply (drains still hold); with a fallback they do not', () => {
  const both = (fallback: string) => {
    const { view, ids } = setUp(`${fallback}{1}smtp0:\n{1}smtp1:\n`);
    const down: TroubleState = { health: [{ id: ids[0]!, down: true, failures: 3, sinceMs: 0, retryAtMs: 60_000, rampMs: 0 }], suspensions: [{ id: ids[1]!, destination: 'x.example', untilMs: 60_000, reason: 'r' }] };
    view.update([0, 0], 1, down, 0);
    return view;
  };
  const v = both('');
  assert.deepEqual(v.forKey('u@x.example', 0).members, [true, true], 'down and suspended: both, as if no automatic rule');
  assert.deepEqual(v.forKey('u@y.example', 0).members, [false, true]);
  v.update([0, DRAINED], 1, undefined, 0);
  assert.deepEqual(v.forKey('u@x.example', 0).members, [true, false], 'the drain still holds');
  const f = both('fallback = retry:x\n');
  assert.equal(f.forKey('u@x.example', 0).priority, undefined, 'with a fallback: none, so the fallback answers');
});

test('view: a counting rule\'s override for a key sets or clears its flag bit, with suspensions, cached by name', () => {
  const { view, ids } = setUp('{1}smtp0:\n{1}smtp1:\n');
  const t: TroubleState = { health: [], suspensions: [{ id: ids[1]!, destination: 'x.example', untilMs: 9000, reason: 'r' }] };
  view.update([CAPPED, 0], 1, t, 0);
  assert.deepEqual(view.forKey('u@y.example', 0).members, [false, true], 'the flag bit');
  const open = { name: 'g1:0', flag: CAPPED, members: [false, false] };
  assert.deepEqual(view.forKey('u@y.example', 0, open).members, [true, true], 'the override clears it for this key');
  const closed = { name: 'g1:1', flag: CAPPED, members: [false, true] };
  assert.deepEqual(view.forKey('u@y.example', 0, closed).members, [true, false]);
  assert.deepEqual(view.forKey('u@x.example', 0, open).members, [true, false], 'with the key\'s suspension');
  assert.deepEqual(view.forKey('u@x.example', 0, closed).members, [true, false], 'suspended and capped: the other one');
  const both = { name: 'g1:2', flag: CAPPED, members: [true, false] };
  assert.deepEqual(view.forKey('u@x.example', 0, both).members, [false, true], 'smtp0 capped, smtp1 only suspended (automatic): smtp1, as if no automatic rule');
  assert.equal(view.forKey('u@y.example', 0, open), view.forKey('u@z.example', 0, open), 'cached per name and destination');
  for (let i = 0; i < 70; i++) view.forKey('u@y.example', 0, { name: `n${i}`, flag: CAPPED, members: [true, false] });
  assert.deepEqual(view.forKey('u@y.example', 0, open).members, [true, true], 'the cache cleared when full answers the same');
});
