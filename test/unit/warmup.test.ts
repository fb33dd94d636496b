import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { countAnswer, localTime, mayAnswer, newRecord, pacedAllowance, rollDay, type WarmupRecord } from '../../src/balance/warmup.js';
import { carryOver, decodeHeader, encodeHeader, freshState, warmupRoom } from '../../src/state/codec.js';
import { hashKey, hashLo } from '../../src/keys/hash.js';
import { MAX_TRANSPORTS } from '../../src/state/layout.js';
import { MAX_WARMUP_RECORDS } from '../../src/balance/warmup.js';

const SCHEDULE = [100, 200, 400];

test('warm-up pacing: 5% of the cap in the first hour, 90% by 17:00-17:59, all from 19:00', () => {
  assert.deepEqual([0, 6, 12, 17, 18, 19, 23].map((h) => pacedAllowance(200, h)), [10, 70, 130, 180, 190, 200, 200]);
  assert.ok(pacedAllowance(1000, 23) >= 900, 'at 23:00 at least 90% is reachable');
  assert.equal(pacedAllowance(7, 0), 0, 'a cap under 20 opens in whole messages only');
});

test('warm-up days: a day at >= 90% advances, a shorter one repeats, one without traffic leaves no trace, a clock gone back keeps counting its day', () => {
  let rec: WarmupRecord = newRecord(1);
  const day = (d: number, hour = 23) => ({ day: d, hour });
  for (let i = 0; i < 90; i++) rec = countAnswer(rec, day(100), 5);
  assert.deepEqual([rec.day, rec.count, rec.sinceMs], [100, 90, 5]);
  const next = rollDay(rec, SCHEDULE, day(101, 0));
  assert.deepEqual(next.advanced, { from: 0, to: 1, count: 90, cap: 100 });
  assert.deepEqual([next.record.stage, next.record.count, next.record.day], [1, 0, 101]);
  rec = countAnswer(next.record, day(101), 6);
  assert.equal(rec.sinceMs, 5, 'warming since its first answer');
  // 1 of 200 on day 101, then nothing until day 104: stage 2 again (the empty days do not count).
  const later = rollDay(rec, SCHEDULE, day(104));
  assert.equal(later.advanced, undefined);
  assert.equal(later.record.stage, 1);
  // Clock back to day 103 after counting on day 104: the count stays on day 104.
  let r = later.record;
  for (let i = 0; i < 200; i++) r = countAnswer(r, day(104), 7);
  assert.equal(mayAnswer(r, SCHEDULE, day(104)), false);
  assert.equal(rollDay(r, SCHEDULE, day(103)).record, r, 'an earlier day changes nothing');
  assert.equal(mayAnswer(r, SCHEDULE, day(103, 2)), false, 'the clock stepped back frees no cap');
  const past = rollDay({ ...r, stage: 3 }, SCHEDULE, day(105));
  assert.equal(mayAnswer(past.record, SCHEDULE, day(105, 0)), true, 'past the last stage: no cap');
});

test('warm-up property: whatever the hours of the requests, a day never passes its cap, and by 23:00 a day with demand reaches it', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 23 }), { minLength: 1, maxLength: 400 }), fc.integer({ min: 1, max: 300 }), (hours, cap) => {
    let rec = newRecord(9);
    for (const hour of [...hours].sort((a, b) => a - b)) {
      const now = { day: 10, hour };
      rec = rollDay(rec, [cap], now).record;
      if (mayAnswer(rec, [cap], now)) rec = countAnswer(rec, now, 1);
      assert.ok(rec.count <= pacedAllowance(cap, hour));
    }
    for (let i = 0; i < cap + 5; i++) if (mayAnswer(rec, [cap], { day: 10, hour: 23 })) rec = countAnswer(rec, { day: 10, hour: 23 }, 1);
    assert.equal(rec.count, cap);
  }));
});

test('warm-up local days follow TZ, daylight saving time included', () => {
  const saved = process.env.TZ;
  try {
    process.env.TZ = 'America/New_York';
    // 03:00 UTC on March 2 is still March 1 in New York (22:00).
    const a = localTime(Date.UTC(2026, 2, 2, 3, 0));
    const b = localTime(Date.UTC(2026, 2, 1, 12, 0));
    assert.equal(a.day, b.day);
    assert.equal(a.hour, 22);
    process.env.TZ = 'UTC';
    assert.equal(localTime(Date.UTC(2026, 2, 2, 3, 0)).day, b.day + 1);
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('state codec: the warm-up table round-trips after the header, outside its CRC; torn or corrupt, it reads as none; a changed pool keeps it by transport', () => {
  const members = ['a:', 'b:', 'c:'].map(hashKey);
  const s = freshState(3, 1000);
  s.warmup = [{ id: hashLo(members[2]!), stage: 4, day: 20_500, count: 77, sinceMs: 1234 }];
  const b = encodeHeader(s, { fingerprint: 1, memberHashes: members }, 16);
  const d = decodeHeader(b, 1);
  assert.ok(typeof d !== 'string');
  assert.deepEqual(d.state.warmup, s.warmup);
  const torn = Buffer.from(b);
  torn[torn.length - 3]! ^= 0xff;
  const t = decodeHeader(torn, 1);
  assert.ok(typeof t !== 'string', 'the header itself still reads (older builds read such files unchanged)');
  assert.deepEqual(t.state.warmup, []);
  assert.equal(t.warmupCorrupt, true, 'said, so the loss of stages can be logged');
  assert.equal(d.warmupCorrupt, false);
  assert.equal((decodeHeader(encodeHeader(freshState(3, 0), { fingerprint: 1, memberHashes: members }, 16), 1) as { warmupCorrupt: boolean }).warmupCorrupt, false, 'no table: nothing lost');
  const moved = carryOver(d, { fingerprint: 2, memberHashes: [members[2]!, hashKey('d:')] }, 0);
  assert.deepEqual(moved.warmup, s.warmup);
  assert.deepEqual(carryOver(d, { fingerprint: 3, memberHashes: [hashKey('d:')] }, 0).warmup, s.warmup, 'kept for the serving transaction to prune (it knows the providers)');
  assert.ok(warmupRoom(MAX_TRANSPORTS) >= MAX_WARMUP_RECORDS, 'the largest pool still has room for every warm-up count');
});
