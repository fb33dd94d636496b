/**
 * The daemon's write-behind state (state/write-behind.ts), in-process over
 * a real state file, with a second store on the same file standing for a
 * spawned instance or `postbal drain`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/parse.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { WriteBehindStore, addHeldChanges } from '../../src/state/write-behind.js';
import type { BalanceState } from '../../src/state/types.js';
import { DRAINED } from '../../src/balance/eligibility/drain.js';
import { tempDir } from '../helpers/postbal.js';

const POOL = parseConfig('{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n', 'p.cf').pool;
const CAPPED = parseConfig('{3}smtp0:\n{2}smtp1:\n{1}smtp2: warmup=50,100\n', 'w.cf').pool;
const WEIGHTS = [3, 2, 1];

/** Smooth weighted round robin over the members not drained, as balance/ does it, counted in `state`. */
function pick(state: BalanceState): number {
  const live = state.transports.map((t, i) => ((t.flags & DRAINED) === 0 ? i : -1)).filter((i) => i >= 0);
  const total = live.reduce((s, i) => s + WEIGHTS[i]!, 0);
  let best = live[0]!;
  for (const i of live) {
    state.transports[i]!.current += WEIGHTS[i]!;
    if (state.transports[i]!.current > state.transports[best]!.current) best = i;
  }
  state.transports[best]!.current -= total;
  state.transports[best]!.picks++;
  state.seq++;
  return best;
}

function fileStore(path: string): FileStateStore {
  return new FileStateStore({ path, memoSlots: 64, memoTtlSec: 600, warn: () => undefined });
}

function picksIn(path: string, pool = POOL): { picks: number[]; seq: number; currentSum: number } {
  const s = fileStore(path);
  const st = s.peekState(pool) ?? s.transact(pool, (x) => x);
  s.close();
  return { picks: st.transports.map((t) => t.picks), seq: st.seq, currentSum: st.transports.reduce((a, t) => a + t.current, 0) };
}

test('write-behind: picks are held in the process and written whole later; the file then holds exactly them', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    let now = 0;
    const store = new WriteBehindStore(fileStore(path), 60_000, () => now);
    for (let i = 0; i < 600; i++) {
      now += 0.01;
      store.transact(POOL, (st) => pick(st));
    }
    // The first transaction was written under the lock; the 599 after it are held.
    assert.deepEqual(picksIn(path).picks, [1, 0, 0]);
    store.write();
    assert.deepEqual(picksIn(path), { picks: [300, 200, 100], seq: 600, currentSum: 0 });
    store.close();
  } finally {
    t.cleanup();
  }
});

test('write-behind: another writer\'s picks meanwhile are kept, and the held ones added to them (exact totals)', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    let now = 0;
    const daemon = new WriteBehindStore(fileStore(path), 60_000, () => now);
    const spawned = fileStore(path);
    for (let i = 0; i < 1200; i++) {
      now += 0.3;
      if (i % 3 === 0) spawned.transact(POOL, (st) => pick(st));
      else daemon.transact(POOL, (st) => pick(st));
    }
    daemon.close();
    spawned.close();
    const after = picksIn(path);
    assert.equal(after.seq, 1200);
    assert.equal(after.currentSum, 0, 'positions still sum to zero: smooth weighted round robin stays balanced');
    assert.deepEqual(after.picks, [600, 400, 200]);
  } finally {
    t.cleanup();
  }
});

test('write-behind: a drain written by another process applies within the peek interval (1 ms)', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    let now = 0;
    const daemon = new WriteBehindStore(fileStore(path), 60_000, () => now);
    for (let i = 0; i < 10; i++) daemon.transact(POOL, (st) => pick(st));
    const admin = fileStore(path);
    admin.transact(POOL, (st) => { st.transports[0]!.flags |= DRAINED; });
    admin.close();
    now += 2;
    const after = Array.from({ length: 30 }, () => daemon.transact(POOL, (st) => pick(st)));
    assert.ok(!after.includes(0), `smtp0 drained, yet picked: ${after.join(',')}`);
    daemon.close();
    const file = picksIn(path);
    assert.equal(file.seq, 40);
  } finally {
    t.cleanup();
  }
});

test('write-behind: a pool with warm-up caps is decided under the lock every time (a cap holds across processes)', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    const daemon = new WriteBehindStore(fileStore(path), 60_000, () => 0);
    for (let i = 0; i < 12; i++) {
      daemon.transact(CAPPED, (st) => pick(st));
      assert.equal(picksIn(path, CAPPED).seq, i + 1, 'written at once');
    }
    daemon.close();
  } finally {
    t.cleanup();
  }
});

test('write-behind: adding held changes moves each counter by what this process changed', () => {
  const mk = (c: number[], p: number[], seq: number): BalanceState => ({
    seq, statsSince: 0, troubleGen: 0, warmup: [], limits: [], transports: c.map((current, i) => ({ current, picks: p[i]!, repeats: 0, flags: 0 })),
  });
  const file = mk([1, -1, 0], [10, 5, 2], 17);
  addHeldChanges(file, mk([0, 0, 0], [4, 4, 4], 12), mk([3, -2, -1], [6, 5, 4], 15));
  assert.deepEqual(file.transports.map((x) => [x.current, x.picks]), [[4, 12], [-3, 6], [-1, 2]]);
  assert.equal(file.seq, 20);
});
