/**
 * The tally region (state/tally.ts, state/tally-io.ts): what every instance
 * counted, in a 4 KiB region of the state file. Round trip, a torn or foreign
 * region counted from zero, hostile values bounded, the lock-wait buckets on
 * both sides of each bound, and the once-a-second write with its clock
 * passed in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import {
  LOCK_WAIT_BUCKETS, PendingTally, TALLY_BYTES, TALLY_NAMES, decodeTally, encodeTally,
} from '../../src/state/tally.js';
import { TallyRegion } from '../../src/state/tally-io.js';
import { tallyOffset } from '../../src/state/layout.js';

test('tally: encode and decode round trip; every name has a distinct index; the region fits', () => {
  assert.equal(new Set(TALLY_NAMES).size, TALLY_NAMES.length);
  assert.ok(8 + 8 * TALLY_NAMES.length <= TALLY_BYTES);
  const t = new Map(TALLY_NAMES.map((n, i) => [n, i * 3 + 0.5]));
  const back = decodeTally(encodeTally(t))!;
  for (const n of TALLY_NAMES) assert.equal(back.get(n), t.get(n), n);
});

test('tally: a torn, short, foreign or all-zero region decodes as none (counted from zero)', () => {
  const good = encodeTally(new Map([['lookup:new/pick', 5]]));
  const torn = Buffer.from(good);
  torn[100] = (torn[100] ?? 0) ^ 1;
  assert.equal(decodeTally(torn), undefined, 'CRC mismatch');
  assert.equal(decodeTally(good.subarray(0, TALLY_BYTES - 1)), undefined, 'short read');
  assert.equal(decodeTally(Buffer.alloc(TALLY_BYTES)), undefined, 'no magic: a file written before the region existed');
  assert.equal(decodeTally(good)!.get('lookup:new/pick'), 5);
});

test('tally: negative, NaN and infinite values another writer left read as 0', () => {
  const t = new Map<string, number>([['lookup:new/pick', -4], ['lookup:repeat/memo', Number.NaN], ['lock_wait:sum', Number.POSITIVE_INFINITY], ['lock_wait:count', 7]]);
  const back = decodeTally(encodeTally(t))!;
  assert.equal(back.get('lookup:new/pick'), 0);
  assert.equal(back.get('lookup:repeat/memo'), 0);
  assert.equal(back.get('lock_wait:sum'), 0);
  assert.equal(back.get('lock_wait:count'), 7);
});

test('tally: a lock wait lands in the first bucket whose bound it does not exceed; above the last, +Inf', () => {
  for (const [i, bound] of LOCK_WAIT_BUCKETS.entries()) {
    const p = new PendingTally();
    p.lockWait(bound);
    p.lockWait(bound * 1.01);
    const m = p.mergedWith(undefined);
    assert.equal(m.get(`lock_wait:${bound}`), 1, `exactly ${bound}`);
    const next = LOCK_WAIT_BUCKETS[i + 1];
    assert.equal(m.get(`lock_wait:${next ?? '+Inf'}`), 1, `just above ${bound}`);
    assert.equal(m.get('lock_wait:count'), 2);
    assert.ok(Math.abs(m.get('lock_wait:sum')! - bound * 2.01) < 1e-12);
  }
});

test('tally: pending adds to what the region holds, and an unknown counter is a programming error', () => {
  const p = new PendingTally();
  assert.equal(p.empty, true);
  p.add('lookup:new/pick', 3);
  p.add('lookup:new/pick');
  assert.equal(p.empty, false);
  const merged = p.mergedWith(new Map([['lookup:new/pick', 10], ['feedback_line:other', 2]]));
  assert.equal(merged.get('lookup:new/pick'), 14);
  assert.equal(merged.get('feedback_line:other'), 2);
  p.clear();
  assert.equal(p.empty, true);
  assert.throws(() => p.add('lookup:nonsense'), /unknown tally counter lookup:nonsense/);
});

test('tally region: written at most once a second per process, at once when due, added to what is there', () => {
  const dir = mkdtempSync('/tmp/postbal-tally-');
  try {
    const path = `${dir}/s`;
    const fd = openSync(path, 'w+');
    let now = 5000;
    const a = new TallyRegion(() => now);
    const b = new TallyRegion(() => now);
    const read = (): Map<string, number> | undefined => {
      const buf = Buffer.alloc(TALLY_BYTES);
      readSync(fd, buf, 0, TALLY_BYTES, tallyOffset(16));
      return decodeTally(buf) as Map<string, number> | undefined;
    };
    a.pending.add('lookup:new/pick', 2);
    a.flush(fd, 16);
    assert.equal(read()?.get('lookup:new/pick'), 2, 'the first write of a process');
    a.pending.add('lookup:new/pick');
    now += 999;
    a.flush(fd, 16);
    assert.equal(read()?.get('lookup:new/pick'), 2, 'within a second: kept pending');
    b.pending.add('lookup:new/pick', 10);
    b.flush(fd, 16);
    assert.equal(read()?.get('lookup:new/pick'), 12, 'another process adds to the region');
    a.due();
    a.flush(fd, 16);
    assert.equal(read()?.get('lookup:new/pick'), 13, 'due (at exit): written at once');
    assert.equal(a.pending.empty, true);
    now += 1000;
    a.flush(fd, 16);
    assert.equal(read()?.get('lookup:new/pick'), 13, 'nothing pending: nothing written');
    closeSync(fd);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
