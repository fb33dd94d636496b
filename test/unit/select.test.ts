/**
 * The selection (balance/select.ts) with the state, trouble, clock and
 * randomness passed in: the eligibility view and the warm-up caps as it
 * uses them, and a counting rule plugged in without the lookup handler.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse.js';
import { Selection } from '../../src/balance/select.js';
import { ALGORITHM_IMPLS } from '../../src/balance/algorithms/index.js';
import { DRAINED } from '../../src/balance/eligibility/drain.js';
import { CAPPED, warmupRule } from '../../src/balance/eligibility/warmup.js';
import type { BalanceState, CountingRule, TroubleState } from '../../src/balance/types.js';
import { freshState } from '../../src/state/codec.js';
import { hashLo } from '../../src/keys/hash.js';

const NOON = new Date(2026, 0, 15, 12, 0).getTime();
/** 23:00 local: the whole day's cap is open (pacing, balance/warmup.ts). */
const LATE = new Date(2026, 0, 15, 23, 0).getTime();
const noTrouble = (): TroubleState => ({ health: [], suspensions: [] });

function setUp(text: string, nowMs = NOON, rules?: readonly CountingRule[]) {
  const { pool } = parseConfig(text, 't.cf');
  const lines: string[] = [];
  const selection = new Selection(pool, (_level, line) => lines.push(line), rules);
  const state = freshState(pool.transports.length, nowMs);
  let n = 0;
  /** One transaction picking for `keys` (all fresh). */
  const burst = (keys: string[], trouble: TroubleState = noTrouble(), at = nowMs, algorithm = ALGORITHM_IMPLS[pool.algorithm]): string[] => {
    selection.begin(state, trouble, at);
    const picked = selection.pick(state, algorithm, () => 0.5, keys, keys.map((k) => algorithm.keyHash(k)), keys.map((_, i) => i), at);
    n += keys.length;
    return picked.map((i) => (i < 0 ? '-' : pool.transports[i]!.value));
  };
  const keys = (count: number, domain = 'example.com'): string[] => Array.from({ length: count }, (_, i) => `u${n + i}@${domain}`);
  return { pool, selection, state, burst, keys, lines };
}

test('selection: smooth WRR 3:2:1 in exact order; every pick counted in the state', () => {
  const s = setUp('{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n');
  assert.deepEqual(s.burst(s.keys(6)), ['smtp0:', 'smtp1:', 'smtp0:', 'smtp2:', 'smtp1:', 'smtp0:']);
  assert.deepEqual(s.state.transports.map((t) => t.picks), [3, 2, 1]);
  assert.equal(s.state.seq, 6);
  assert.deepEqual(s.state.transports.map((t) => t.current), [0, 0, 0], 'a whole cycle returns the scores to zero');
});

test('selection: a drained member gets nothing, the others keep their ratio; all drained in a tier: the next tier', () => {
  const s = setUp('{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n{1}smtp9: priority=2\n');
  s.state.transports[0]!.flags = DRAINED;
  const got = s.burst(s.keys(30));
  assert.equal(got.filter((v) => v === 'smtp1:').length, 20);
  assert.equal(got.filter((v) => v === 'smtp2:').length, 10);
  s.state.transports[1]!.flags = DRAINED;
  s.state.transports[2]!.flags = DRAINED;
  assert.deepEqual(s.burst(s.keys(2)), ['smtp9:', 'smtp9:']);
});

test('selection: a remembered answer is stale when its member is drained, down or suspended for the key; never for a warm-up cap', () => {
  const s = setUp('{1}smtp0:\n{1}smtp1: warmup=5\n', LATE);
  const keys = ['a@x.example', 'b@y.example'];
  s.selection.begin(s.state, noTrouble(), LATE);
  assert.deepEqual(s.selection.stale(keys, [0, 1], [0, 1], LATE), []);
  s.state.transports[0]!.flags = DRAINED;
  s.state.transports[1]!.flags = CAPPED;
  s.selection.peeked(s.state.transports.map((t) => t.flags), 0, LATE);
  assert.deepEqual(s.selection.stale(keys, [0, 1], [0, 1], LATE), [0], 'the drained one only');
  s.state.transports[0]!.flags = 0;
  const id = hashLo(s.pool.memberHashes[0]!);
  const suspended: TroubleState = { health: [], suspensions: [{ id, destination: 'x.example', untilMs: LATE + 60_000, reason: 'test' }] };
  s.selection.begin(s.state, suspended, LATE);
  assert.deepEqual(s.selection.stale(keys, [0], [0, 1], LATE), [0], 'suspended for x.example');
  assert.deepEqual(s.selection.stale(['a@z.example'], [0], [0], LATE), [], 'not for another destination');
  s.selection.begin(s.state, suspended, LATE + 61_000);
  assert.deepEqual(s.selection.stale(keys, [0], [0, 1], LATE + 61_000), [], 'the suspension has run out');
});

test('selection: a warm-up cap closes within the burst that reaches it; counted per provider group apart', () => {
  const s = setUp('{1}smtp0:\n{1}smtp1: warmup=3,6\nwarmup_provider = gmail.com googlemail.com\n', LATE);
  const others = s.burst(s.keys(12));
  assert.equal(others.filter((v) => v === 'smtp1:').length, 3, 'exactly the cap for other domains');
  assert.equal((s.state.transports[1]!.flags & CAPPED) !== 0, true);
  const gmail = s.burst(s.keys(12, 'gmail.com'));
  assert.equal(gmail.filter((v) => v === 'smtp1:').length, 3, 'exactly the cap again for the provider group');
  const sub = s.burst(s.keys(4, 'mail.googlemail.com'));
  assert.deepEqual(sub, ['smtp0:', 'smtp0:', 'smtp0:', 'smtp0:'], 'a subdomain of the group is the group');
  assert.deepEqual(s.state.warmup.map((r) => r.count).sort(), [3, 3]);
  assert.ok(s.lines.some((l) => /smtp1: at its cap for gmail\.com googlemail\.com \(3 today\)/.test(l)), s.lines.join('\n'));
  // Next day: stage 1 was reached in full, so stage 2 (6) opens.
  const tomorrow = LATE + 24 * 3600_000;
  const next = s.burst(s.keys(20), noTrouble(), tomorrow);
  assert.equal(next.filter((v) => v === 'smtp1:').length, 6);
  assert.ok(s.lines.some((l) => /stage 1 -> 2 of 2, 6 a day/.test(l)));
});

test('selection: warm-up pacing at noon holds back part of the cap; the clock passed in decides', () => {
  const s = setUp('{1}smtp0:\n{1}smtp1: warmup=100\n', NOON);
  const got = s.burst(s.keys(400));
  const n = got.filter((v) => v === 'smtp1:').length;
  assert.ok(n > 0 && n < 100, `${n} of a cap of 100 by noon`);
});

test('selection: a counting rule plugs in without the handler: its override excludes per key, its count closes a member for every key', () => {
  let counted = 0;
  const quota: CountingRule = {
    rule: warmupRule,
    flag: CAPPED,
    keepsRemembered: false,
    begin: (state: BalanceState) => { for (const t of state.transports) t.flags &= ~CAPPED; counted = 0; },
    overrideFor: (key) => (key.endsWith('@blocked.example') ? { name: 'blocked', members: [true, false] } : undefined),
    counted: (state, member) => {
      if (member !== 1 || ++counted < 2) return false;
      state.transports[1]!.flags |= CAPPED;
      return true;
    },
  };
  const s = setUp('{1}smtp0:\n{1}smtp1:\n', NOON, [quota]);
  assert.deepEqual(s.burst(s.keys(2, 'blocked.example')), ['smtp1:', 'smtp1:'], 'member 0 excluded for these keys by the override');
  assert.deepEqual(s.burst(s.keys(6)), ['smtp0:', 'smtp1:', 'smtp0:', 'smtp1:', 'smtp0:', 'smtp0:'], 'member 1 closed after its second count');
  s.selection.peeked(s.state.transports.map((t) => t.flags), 0, NOON);
  assert.deepEqual(s.selection.stale(['k@a.example'], [0], [1], NOON), [0], 'a rule that does not keep remembered answers makes them stale');
});

test('selection: all members excluded by automatic rules and no fallback: the members as if none applied (drains still hold)', () => {
  const s = setUp('{1}smtp0:\n{1}smtp1:\n');
  const ids = s.pool.memberHashes.map(hashLo);
  const down: TroubleState = { health: ids.map((id) => ({ id, down: true, failures: 3, sinceMs: NOON - 1000, retryAtMs: NOON + 600_000, rampMs: 0 })), suspensions: [] };
  s.state.transports[0]!.flags = DRAINED;
  assert.deepEqual(s.burst(s.keys(3), down), ['smtp1:', 'smtp1:', 'smtp1:']);
  s.state.transports[1]!.flags = DRAINED;
  assert.deepEqual(s.burst(s.keys(1), down), ['-'], 'all drained: none');
});
