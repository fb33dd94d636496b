/**
 * The bakery lock's interleavings, deterministically: this process's lock
 * (its doorway run a step at a time) against a second process simulated by
 * writing its slot as the algorithm would, in all 70 orders of the two
 * doorways. Whatever the order, exactly one may enter, the other enters once
 * it leaves, and nobody enters while another is choosing its number. Then the
 * holders a waiter passes over: a dead one, a reused PID, a stuck one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync, writeSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { BakeryLock } from '../../src/state/bakery-lock.js';
import { LOCK_SLOTS, LOCK_SLOT_BYTES, LOCK_TABLE_OFFSET } from '../../src/state/layout.js';
import { processStart } from '../../src/state/peers.js';
import { tempDir } from '../helpers/postbal.js';

const CHOOSING = 4;
const NUMBER = 8;

function table() {
  const t = tempDir();
  const path = join(t.dir, 'state');
  writeFileSync(path, Buffer.alloc(LOCK_TABLE_OFFSET + LOCK_SLOTS * LOCK_SLOT_BYTES));
  const fd = openSync(path, 'r+');
  const word = (slot: number, field: number, value: number): void => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    writeSync(fd, b, 0, 4, LOCK_TABLE_OFFSET + slot * LOCK_SLOT_BYTES + field);
  };
  const read = (slot: number, field: number): number => {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, LOCK_TABLE_OFFSET + slot * LOCK_SLOT_BYTES + field);
    return b.readUInt32LE();
  };
  /** Another process in `slot`: a live PID (our parent) and its real start time. */
  const other = (slot: number, pid = process.ppid, start = processStart(process.ppid)): void => {
    // As a claim writes a slot: the whole of it.
    word(slot, 0, pid);
    word(slot, CHOOSING, 0);
    word(slot, NUMBER, 0);
    word(slot, 12, start);
  };
  return { fd, word, read, other, done: () => { closeSync(fd); t.cleanup(); } };
}

/** Every way to interleave a steps of one and b of the other: true = the first's step. */
function* orders(a: number, b: number): Generator<boolean[]> {
  if (a === 0 && b === 0) yield [];
  if (a > 0) for (const rest of orders(a - 1, b)) yield [true, ...rest];
  if (b > 0) for (const rest of orders(a, b - 1)) yield [false, ...rest];
}

test('bakery lock: in all 70 interleavings of two doorways exactly one enters, the other after it leaves, and nobody while the other chooses', () => {
  const t = table();
  try {
    const lock = BakeryLock.claim(t.fd, { timeoutMs: 1000, staleMs: 60_000 })!;
    assert.ok(lock);
    t.other(1);
    let count = 0;
    for (const order of orders(4, 4)) {
      count++;
      for (const s of [0, 1]) { t.word(s, CHOOSING, 0); t.word(s, NUMBER, 0); }
      // The other process's doorway, as the algorithm writes it.
      let max = 0;
      let bStep = 0;
      const bSteps = [
        () => t.word(1, CHOOSING, 1),
        () => { max = Math.max(...Array.from({ length: LOCK_SLOTS }, (_, j) => t.read(j, NUMBER))); },
        () => t.word(1, NUMBER, max + 1),
        () => t.word(1, CHOOSING, 0),
      ];
      const a = lock.doorway();
      let aDone = false;
      for (const mine of order) {
        if (mine) aDone = a.next().done === true;
        else bSteps[bStep++]!();
        // Whenever the other is choosing, this one may not enter, even with its own doorway done.
        if (aDone && bStep >= 1 && bStep < 4) assert.equal(lock.blocker(), 1, `order ${order.map(Number).join('')}: entered while the other chose`);
      }
      assert.ok(aDone);
      const aNumber = t.read(0, NUMBER);
      const bNumber = t.read(1, NUMBER);
      const bMayEnter = !(aNumber !== 0 && (aNumber < bNumber || (aNumber === bNumber && 0 < 1)));
      const aMayEnter = lock.blocker() === -1;
      assert.notEqual(aMayEnter, bMayEnter, `order ${order.map(Number).join('')}: exactly one enters (numbers ${aNumber} and ${bNumber})`);
      if (aMayEnter) {
        lock.release();
        assert.equal(t.read(0, NUMBER), 0);
      } else {
        t.word(1, NUMBER, 0);
        assert.equal(lock.blocker(), -1, 'the other left: this one enters');
      }
    }
    assert.equal(count, 70);
  } finally {
    t.done();
  }
});

test('bakery lock: a holder that is dead, or whose PID now names another process, is passed at once; a live one stuck for staleMs, then', () => {
  const t = table();
  try {
    const lock = BakeryLock.claim(t.fd, { timeoutMs: 200, staleMs: 60_000 })!;
    // A live holder with a number: waited for, until the timeout (a moment here), then "held".
    t.other(1);
    t.word(1, NUMBER, 1);
    const r = lock.acquire();
    assert.deepEqual(r, { ok: false, detail: 'lock table slot 1 held for over 200 ms' });
    assert.equal(t.read(0, NUMBER), 0, 'a waiter that gives up takes its number back');
    // The same slot with a start time that is not its PID's: a reused PID, passed at once.
    t.other(1, process.ppid, (processStart(process.ppid) + 1) >>> 0);
    assert.deepEqual(lock.acquire(), { ok: true });
    lock.release();
    // A PID that is gone: passed at once.
    t.other(1, 0x7ffffff0, 1);
    assert.deepEqual(lock.acquire(), { ok: true });
    lock.release();
    // A live holder stuck longer than staleMs: passed over.
    const stale = BakeryLock.claim(t.fd, { timeoutMs: 1000, staleMs: 0 })!;
    t.other(1);
    t.word(1, NUMBER, 1);
    assert.deepEqual(stale.acquire(), { ok: true });
    stale.release();
  } finally {
    t.done();
  }
});

test('bakery lock: a slot another process claimed while this one held or waited is not written into again: "lost"', () => {
  const t = table();
  try {
    const lock = BakeryLock.claim(t.fd, { timeoutMs: 200, staleMs: 60_000 })!;
    const steps = lock.doorway();
    while (steps.next().done !== true) t.other(0);
    assert.equal(lock.blocker(), -1);
    const r = lock.acquire();
    assert.deepEqual(r, { ok: false, lost: true, detail: `lock table slot 0 was claimed by pid ${process.ppid}` });
    assert.equal(t.read(0, NUMBER), 0, 'nothing written into it');
  } finally {
    t.done();
  }
});
