/**
 * Warm-up caps as a counting rule (balance/eligibility/warmup.ts), with the
 * clock passed in: records kept only for warming transports, the CAPPED bit
 * set and cleared, provider groups apart with their own log lines, and a
 * pool that warms nothing clearing what an earlier one left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAPPED, WarmupCaps, warmupRecordId, warmupRule } from '../../src/balance/eligibility/warmup.js';
import { parseConfig } from '../../src/config/parse.js';
import { freshState } from '../../src/state/codec.js';
import { hashLo } from '../../src/keys/hash.js';

const LATE = new Date(2026, 0, 15, 23, 0).getTime();

test('warm-up caps: count, cap, log, and the rule that reads the bit', () => {
  const { pool } = parseConfig('{1}smtp0:\n{1}smtp1: warmup=2,4\nwarmup_provider = gmail.com\n', 't.cf');
  const lines: string[] = [];
  const caps = new WarmupCaps(pool, (_l, line) => lines.push(line));
  const state = freshState(2, LATE);
  assert.equal(caps.active, true);
  caps.begin(state, LATE);
  assert.deepEqual(state.warmup.map((r) => r.id), [warmupRecordId(pool, 1, 0), warmupRecordId(pool, 1, 1)]);
  assert.equal(warmupRecordId(pool, 1, 0), hashLo(pool.memberHashes[1]!), 'other domains: the id drain marks use');
  assert.notEqual(warmupRecordId(pool, 1, 1), warmupRecordId(pool, 1, 0));
  assert.equal(caps.groupOf('u@gmail.com'), 1);
  assert.equal(caps.groupOf('u@mail.gmail.com'), 1);
  assert.equal(caps.groupOf('u@other.example'), 0);
  assert.equal(caps.overrideFor('u@gmail.com'), undefined, 'no cap differs yet');
  assert.equal(caps.counted(state, 0, 'u@x.example'), false, 'a transport that does not warm counts nothing');
  assert.equal(caps.counted(state, 1, 'u@x.example'), false);
  assert.ok(lines.includes('warm-up: smtp1: starts warming for other domains: stage 1 of 2, 2 a day'), lines.join('\n'));
  assert.equal(caps.counted(state, 1, 'v@x.example'), true, 'its second: capped for every key (the flag bit)');
  assert.equal((state.transports[1]!.flags & CAPPED) !== 0, true);
  const v0 = caps.version;
  assert.equal(caps.counted(state, 1, 'u@gmail.com'), false);
  assert.ok(lines.includes('warm-up: smtp1: starts warming for gmail.com: stage 1 of 2, 2 a day'), lines.join('\n'));
  assert.equal(caps.counted(state, 1, 'v@gmail.com'), false, 'a provider\'s cap is no flag bit');
  assert.ok(caps.version > v0, 'the provider\'s caps changed: a new version for the cache');
  assert.ok(lines.includes('warm-up: smtp1: at its cap for gmail.com (2 today); the other transports take that mail'), lines.join('\n'));
  assert.equal(caps.overrideFor('u@gmail.com'), undefined, 'capped for both: the same as the flag bit');
  assert.equal(warmupRule.factor(1, { flags: CAPPED }, 0), 0);
  assert.equal(warmupRule.factor(1, { flags: 0 }, 0), 1);
  assert.equal(warmupRule.automatic, false, 'like a drain: all capped means the next tier, never a capped answer');
  assert.equal(warmupRule.name, 'warm-up cap');
  // The next day the stage advances (2 of 2 reached) and the caps open.
  caps.begin(state, LATE + 86_400_000);
  assert.equal((state.transports[1]!.flags & CAPPED) !== 0, false);
  assert.ok(lines.some((l) => /^warm-up: smtp1: for other domains sent 2 of 2 on its last day: stage 1 -> 2 of 2, 4 a day$/.test(l)), lines.join('\n'));
});

test('warm-up caps: a pool that warms nothing clears the records and CAPPED bits an earlier pool left', () => {
  const { pool } = parseConfig('{1}smtp0:\n{1}smtp1:\n', 't.cf');
  const caps = new WarmupCaps(pool, () => undefined);
  const state = freshState(2, 0);
  state.warmup = [{ id: 1, stage: 0, day: 1, count: 5, sinceMs: 1 }];
  state.transports[0]!.flags = CAPPED | 1;
  state.transports[1]!.flags = CAPPED;
  assert.equal(caps.active, false);
  caps.begin(state, LATE);
  assert.deepEqual(state.warmup, []);
  assert.deepEqual(state.transports.map((t) => t.flags), [1, 0], 'the drain bit stays');
  assert.equal(caps.groupOf('u@gmail.com'), 0);
});
