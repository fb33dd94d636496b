import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pickSmoothWrr, previewSmoothWrr } from '../../src/balance/algorithms/wrr.js';
import { BufferSlotIO, MemoTable } from '../../src/state/memo.js';
import { hashKey, hashLo } from '../../src/keys/hash.js';
import { MEMO_SLOT_BYTES } from '../../src/state/layout.js';

test('wrr: 3:2:1 interleaves as a b a c b a, repeating', () => {
  assert.deepEqual(previewSmoothWrr([3, 2, 1], 12), [0, 1, 0, 2, 1, 0, 0, 1, 0, 2, 1, 0]);
  assert.deepEqual(previewSmoothWrr([1, 1, 1], 4), [0, 1, 2, 0]);
  assert.deepEqual(previewSmoothWrr([5, 1], 6), [0, 0, 0, 1, 0, 0]);
});

test('wrr: property: every prefix is within 2 of the exact share, every full cycle is exact', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 12 }), (weights) => {
    const total = weights.reduce((a, b) => a + b, 0);
    const current = weights.map(() => 0);
    const counts = weights.map(() => 0);
    for (let n = 1; n <= total * 2; n++) {
      counts[pickSmoothWrr(weights, current)]!++;
      weights.forEach((w, i) => assert.ok(Math.abs(counts[i]! - (n * w) / total) < 2, `weights ${weights.join(':')} n ${n}`));
    }
    weights.forEach((w, i) => assert.equal(counts[i], 2 * w));
    assert.ok(current.every((c) => c === 0), 'scores return to zero after whole cycles');
  }));
});

test('wrr: ineligible members are skipped and the rest keep their proportions', () => {
  const current = [0, 0, 0];
  const picks = Array.from({ length: 5 }, () => pickSmoothWrr([3, 2, 1], current, (i) => i !== 0));
  assert.deepEqual(picks, [1, 2, 1, 1, 2]);
  assert.equal(pickSmoothWrr([1], [0], () => false), -1);
});

function memo(slots: number, ttl = 600): { table: MemoTable; io: BufferSlotIO } {
  const io = new BufferSlotIO(Buffer.alloc(slots * MEMO_SLOT_BYTES));
  return { table: new MemoTable(io, ttl, 3), io };
}

test('memo: a key is answered once more, then forgotten', () => {
  const { table } = memo(64);
  const h = hashKey('a@x');
  assert.equal(table.take(h, 1000), undefined);
  table.put(h, 2, 1000);
  assert.equal(table.take(h, 1001), 2);
  assert.equal(table.take(h, 1002), undefined);
});

test('memo: entries expire, and a clock jump backwards does not keep them forever', () => {
  const { table } = memo(64, 10);
  const h = hashKey('a@x');
  table.put(h, 1, 1000);
  assert.equal(table.take(h, 1011), undefined);
  table.put(h, 1, 1000);
  assert.equal(table.take(h, 1000 - 3600), undefined, 'written by a clock an hour ahead');
});

test('memo: a torn slot is ignored; a full window evicts the oldest', () => {
  const { table, io } = memo(8);
  const h = hashKey('torn');
  table.put(h, 1, 1000);
  const slot = (hashLo(h) % 8) * MEMO_SLOT_BYTES;
  new Uint8Array(io.words.buffer, io.words.byteOffset)[slot + 12] = 2; // transport byte changed without its check
  assert.equal(table.take(h, 1000), undefined);
  for (let i = 0; i < 9; i++) table.put(hashKey(`k${i}`), 0, 1000 + i);
  assert.equal(table.take(hashKey('k0'), 1009), undefined, 'oldest evicted');
  assert.equal(table.take(hashKey('k8'), 1009), 0);
});
