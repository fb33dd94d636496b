/**
 * The policy board (policy/board.ts, policy/board-codec.ts): a page shared
 * by every instance through the state file, with the clock passed in. Two
 * boards on one file see each other's changes; a page of other services
 * starts afresh; a file that is not a policy state file is refused with one
 * warning and the instance works alone; the codec's round trip and its
 * bounds on what a file says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyBoard, readBoardFile } from '../../src/policy/board.js';
import {
  addRequestCounts, BOARD_MAGIC, BOARD_PAGE_BYTES, allDownOf, boardBytes, currentOf, downUntilOf, fingerprintServices, initBoard, readHeader, readRecord,
  serviceLabel, setCurrent, streakOf, writeAllDown, writeRecord,
} from '../../src/policy/board-codec.js';
import type { BackendSpec } from '../../src/policy/backend.js';
import { tempDir } from '../helpers/postbal.js';

const spec = (name: string, port = 10040, priority = 1, weight = 1): BackendSpec => ({ name, host: '127.0.0.1', port, priority, weight, timeoutMs: 5000 });
const SERVICES = [spec('a'), spec('b', 10041, 2, 3)];

test('board codec: a record round-trips; labels, reasons and numbers bounded on reading', () => {
  const page = Buffer.alloc(BOARD_PAGE_BYTES);
  initBoard(page, SERVICES, 1234);
  const h = readHeader(page);
  assert.deepEqual(h, { magic: BOARD_MAGIC, count: 2, fingerprint: fingerprintServices(SERVICES), allDown: false, statsSince: 1234, requests: 0, defaults: 0, failovers: 0 });
  addRequestCounts(page, { requests: 3, defaults: 1, failovers: 2 });
  addRequestCounts(page, { requests: 1, defaults: 0, failovers: 0 });
  assert.deepEqual([readHeader(page).requests, readHeader(page).defaults, readHeader(page).failovers], [4, 1, 2], 'instances add to the board\'s counts');
  page.writeDoubleLE(Number.NaN, 32);
  assert.equal(readHeader(page).requests, 0, 'a count another writer spoiled reads as 0');
  addRequestCounts(page, { requests: 1, defaults: 0, failovers: 0 });
  assert.equal(readHeader(page).requests, 1, 'and counts on from there');
  assert.deepEqual(readRecord(page, 1), { label: 'b=127.0.0.1:10041', current: 0, downUntil: 0, downSince: 0, answered: 0, failures: 0, latencySumMs: 0, streak: 0, priority: 2, weight: 3, timeoutMs: 5000, lastFailure: '' });
  const r = { ...readRecord(page, 0), current: -2.5, downUntil: 99, downSince: 9, answered: 7, failures: 3, latencySumMs: 12.5, streak: 2, lastFailure: 'connect timeout!x' };
  writeRecord(page, 0, r);
  assert.deepEqual(readRecord(page, 0), { ...r, lastFailure: 'connect timeout!' }, 'the reason keeps 16 bytes');
  assert.equal(downUntilOf(page, 0), 99);
  assert.equal(streakOf(page, 0), 2);
  assert.equal(currentOf(page, 0), -2.5);
  setCurrent(page, 1, 7);
  assert.equal(currentOf(page, 1), 7);
  writeAllDown(page, true);
  assert.equal(allDownOf(page), true);
  assert.equal(readHeader(page).allDown, true);
  writeAllDown(page, false);
  assert.equal(allDownOf(page), false);
  writeRecord(page, 0, { ...r, label: 'x\u00e9\ny', lastFailure: '\u0001' });
  assert.equal(readRecord(page, 0).label, 'x??y', 'what a file holds is shown printable only');
  page.writeDoubleLE(Number.NaN, 64 + 56);
  page.writeDoubleLE(1e300, 64 + 48);
  assert.equal(downUntilOf(page, 0), 0, 'NaN read as 0');
  assert.equal(currentOf(page, 0), 0, 'a score past 1e12 read as 0');
  page.writeUInt32LE(1000, 8);
  assert.equal(readHeader(page).count, 24, 'a count past the page read as its most');
  assert.equal(boardBytes(2), 64 + 2 * 128);
  assert.equal(serviceLabel({ ...SERVICES[0]!, name: 'n'.repeat(60) }).length, 48);
  assert.notEqual(fingerprintServices(SERVICES), fingerprintServices([SERVICES[0]!, { ...SERVICES[1]!, weight: 4 }]), 'a weight change is another board');
  assert.notEqual(fingerprintServices(SERVICES), fingerprintServices([SERVICES[0]!, { ...SERVICES[1]!, priority: 3 }]));
});

test('board: two instances on one file see each other\'s changes; a page of other services starts afresh', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 'policy.state');
    const warnings: string[] = [];
    const warn = (m: string): void => { warnings.push(m); };
    const a = new PolicyBoard(path, SERVICES, { warn, nowMs: () => 1000 });
    const b = new PolicyBoard(path, SERVICES, { warn, nowMs: () => 2000 });
    assert.equal(a.where, path);
    a.update((p) => writeRecord(p, 0, { ...readRecord(p, 0), downUntil: 5000, streak: 3 }));
    assert.equal(downUntilOf(b.read(), 0), 5000, 'b reads a\'s change');
    assert.equal(b.update((p) => streakOf(p, 0)), 3);
    assert.equal(downUntilOf(b.last, 0), 5000, 'last: the page as last read, no I/O');
    const other = new PolicyBoard(path, [spec('z')], { warn, nowMs: () => 3000 });
    assert.equal(readRecord(other.read(), 0).label, 'z=127.0.0.1:10040', 'another service list: a fresh page');
    other.update((p) => writeRecord(p, 0, { ...readRecord(p, 0), answered: 5 }));
    assert.equal(downUntilOf(a.read(), 0), 0, 'and the first list starts afresh in turn');
    assert.equal(readHeader(readBoardFile(path)!).count, 1, 'status reads the file as it is');
    assert.deepEqual(warnings, []);
    for (const x of [a, b, other]) x.close();
    assert.equal(readBoardFile(join(t.dir, 'none')), undefined, 'no file yet');
  } finally {
    t.cleanup();
  }
});

test('board: the balancer\'s state file, a short file or none: refused once, the instance works alone in memory', () => {
  const t = tempDir();
  try {
    const balancer = join(t.dir, 'balancer.state');
    const head = Buffer.alloc(8192);
    head.write('PBS2', 0, 'latin1');
    writeFileSync(balancer, head);
    chmodSync(balancer, 0o600);
    const warnings: string[] = [];
    const board = new PolicyBoard(balancer, SERVICES, { warn: (m) => warnings.push(m), nowMs: () => 0 });
    assert.match(board.where, /^memory \(.*is not a postbal policy state file \(it starts with "PBS2"; the balancer's state file cannot be shared with policy\)\)$/);
    assert.equal(board.update((p) => { setCurrent(p, 0, 4); return currentOf(p, 0); }), 4, 'changes stay in memory');
    assert.equal(currentOf(board.read(), 0), 4);
    board.update(() => undefined);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    board.close();
    const short = join(t.dir, 'short.state');
    writeFileSync(short, Buffer.alloc(100));
    chmodSync(short, 0o600);
    const s = new PolicyBoard(short, SERVICES, { warn: () => undefined });
    assert.match(s.where, /is 100 bytes, expected 8192: not a postbal policy state file/);
    s.close();
    assert.throws(() => readBoardFile(balancer), /not a postbal policy state file/);
    const none = new PolicyBoard(undefined, SERVICES, { warn: () => undefined });
    assert.equal(none.where, 'memory (no state file)');
    none.close();
  } finally {
    t.cleanup();
  }
});
