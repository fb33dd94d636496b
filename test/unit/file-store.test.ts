/**
 * The file store in-process: what happens to the file, the fallback and the
 * memo when the file is destroyed, replaced, or written for another pool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/parse.js';
import { hashKey } from '../../src/keys/hash.js';
import { FileStateStore } from '../../src/state/file-store.js';
import { DRAINED } from '../../src/balance/eligibility/drain.js';
import { LOCK_TABLE_OFFSET, headerBytes } from '../../src/state/layout.js';
import { processStart } from '../../src/state/peers.js';
import { tempDir } from '../helpers/postbal.js';

const POOL = parseConfig('{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n', 'p.cf').pool;
const OTHER_POOL = parseConfig('{1}smtp0:\n{1}smtp1:\n{1}smtp3:\n', 'q.cf').pool;

function store(path: string, lines: string[], extra: Partial<ConstructorParameters<typeof FileStateStore>[0]> = {}): FileStateStore {
  return new FileStateStore({
    path, memoSlots: 64, memoTtlSec: 600, warn: (m) => lines.push(`warning: ${m}`), info: (m) => lines.push(`info: ${m}`), ...extra,
  });
}

test('file store: a memo handed out before the file was destroyed does nothing afterwards (no EBADF, no write elsewhere)', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    const lines: string[] = [];
    const s = store(path, lines);
    s.transact(POOL, (st) => { st.seq++; });
    const memo = s.memo(POOL, 1);
    assert.equal(memo.usable, true);
    // Truncated, then the path made a directory: the transaction's replacement
    // fails, and the store falls back to memory, closing the file.
    truncateSync(path, 100);
    unlinkSync(path);
    mkdirSync(path);
    const seq = s.transact(POOL, (st) => ++st.seq);
    assert.equal(seq, 2, 'answered from memory, seeded with the last good state');
    assert.equal(s.info().kind, 'memory');
    // The memo's file is closed; its writes must be silent no-ops.
    writeFileSync(join(t.dir, 'bystander'), 'x'.repeat(100_000));
    assert.doesNotThrow(() => memo.put(hashKey('a@x'), 1, 1000));
    assert.equal(memo.take(hashKey('a@x'), 1000), undefined);
    assert.equal(readFileSync(join(t.dir, 'bystander'), 'utf8'), 'x'.repeat(100_000));
    s.close();
  } finally {
    t.cleanup();
  }
});

test('file store: each outage is logged, and so is each recovery', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    const lines: string[] = [];
    let now = 0;
    const s = store(path, lines, { monotonicMs: () => now });
    s.transact(POOL, (st) => { st.seq++; });
    for (let outage = 0; outage < 2; outage++) {
      // The path becomes a directory: noticed at the next re-check (1 s).
      unlinkSync(path);
      mkdirSync(path);
      now += 1001;
      s.transact(POOL, (st) => { st.seq++; });
      assert.equal(s.info().kind, 'memory', `outage ${outage}`);
      rmSync(path, { recursive: true });
      s.transact(POOL, (st) => { st.seq++; });
      assert.equal(s.info().kind, 'memory', 'memory serves for 10 s before the file is tried again');
      now += 10_000;
      s.transact(POOL, (st) => { st.seq++; });
      assert.equal(s.info().kind, 'file', `recovery ${outage}`);
    }
    const outages = lines.filter((l) => l.includes('serving from memory'));
    const recoveries = lines.filter((l) => l.includes('usable again'));
    assert.equal(outages.length, 2, lines.join('\n'));
    assert.equal(recoveries.length, 2, lines.join('\n'));
    assert.match(recoveries[0]!, /^info: /);
    s.close();
  } finally {
    t.cleanup();
  }
});

test('file store: a changed pool is reset in place (same file), drain marks of kept members carried over', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    const lines: string[] = [];
    const a = store(path, lines);
    a.transact(POOL, (st) => {
      st.seq = 10;
      st.transports[1]!.flags |= DRAINED;
    });
    a.memo(POOL, 1).put(hashKey('k@x'), 2, Math.floor(Date.now() / 1000));
    const ino = statSync(path).ino;
    a.close();
    const b = store(path, lines);
    const flags = b.transact(OTHER_POOL, (st) => st.transports.map((x) => x.flags));
    assert.deepEqual(flags, [0, DRAINED, 0], 'smtp1 stays drained, by value');
    assert.equal(statSync(path).ino, ino, 'the same file, not a replacement');
    assert.equal(b.memo(OTHER_POOL, 1).take(hashKey('k@x'), Math.floor(Date.now() / 1000)), undefined, 'memo emptied');
    assert.ok(lines.some((l) => l.includes('different pool')));
    b.close();
  } finally {
    t.cleanup();
  }
});

test('file store: an unusable file is not replaced while another process holds the sidecar lock', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    const lines: string[] = [];
    const s = store(path, lines, { lockTimeoutMs: 100, lockStaleMs: 60_000 });
    s.transact(POOL, (st) => { st.seq++; });
    // Corrupt the header in place, and hold the sidecar as a live process (this one).
    const bytes = readFileSync(path);
    bytes.fill(0x5a, 0, 64);
    writeFileSync(path, bytes);
    const ino = statSync(path).ino;
    writeFileSync(`${path}.lock`, `${process.pid} planted\n`, { mode: 0o600 });
    s.transact(POOL, (st) => { st.seq++; });
    assert.equal(s.info().kind, 'memory', 'served from memory');
    assert.equal(statSync(path).ino, ino, 'not replaced without the sidecar lock');
    assert.equal(readFileSync(path)[0], 0x5a);
    s.close();
  } finally {
    t.cleanup();
  }
});

test('file store: two stores replacing the same corrupt file leave one file, and the second uses the first one\'s', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    const lines: string[] = [];
    const a = store(path, lines);
    const b = store(path, lines);
    a.transact(POOL, (st) => { st.seq++; });
    b.transact(POOL, (st) => { st.seq++; });
    const bytes = readFileSync(path);
    bytes.fill(0x5a, 8, 64);
    writeFileSync(path, bytes);
    const seqA = a.transact(POOL, (st) => ++st.seq);
    const ino = statSync(path).ino;
    const seqB = b.transact(POOL, (st) => ++st.seq);
    assert.equal(seqA, 1, 'a fresh sequence after the replacement');
    assert.equal(seqB, 2, 'the second store found the replacement and went on from it');
    assert.equal(statSync(path).ino, ino, 'replaced once');
    a.close();
    b.close();
  } finally {
    t.cleanup();
  }
});

test('file store: a corrupt warm-up table is said once, then rewritten empty; the header and its drain marks stand', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    const lines: string[] = [];
    const s = store(path, lines);
    s.transact(POOL, (st) => {
      st.transports[1]!.flags |= DRAINED;
      st.warmup = [{ id: 7, stage: 5, day: 20_000, count: 3, sinceMs: 1 }];
    });
    s.close();
    const b = readFileSync(path);
    const table = headerBytes(POOL.transports.length);
    b[table + 16]! ^= 0xff; // a record byte: the table's CRC fails
    writeFileSync(path, b);
    const again = store(path, lines);
    for (let i = 0; i < 3; i++) {
      again.transact(POOL, (st) => {
        assert.deepEqual(st.warmup, []);
        assert.equal(st.transports[1]!.flags & DRAINED, DRAINED);
      });
    }
    again.close();
    assert.deepEqual(lines.filter((l) => /warm-up/.test(l)), [`warning: ${path}: the warm-up table is corrupt; every warming transport starts again at stage 1 (set a stage back with postbal warmup-stage TRANSPORT STAGE)`]);
    assert.equal(lines.filter((l) => /replacing/.test(l)).length, 0, 'the file itself is kept');
  } finally {
    t.cleanup();
  }
});

test('file store: serving from memory because the lock is busy, the drain marks the file has now still apply (read lock-free)', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 's');
    const lines: string[] = [];
    const a = store(path, lines, { lockTimeoutMs: 30, lockStaleMs: 60_000 });
    a.transact(POOL, (st) => { st.seq++; });
    // Slot 200: a live postbal (this process, its start time) holding ticket 1 forever.
    const fd = openSync(path, 'r+');
    const slot = Buffer.alloc(16);
    slot.writeUInt32LE(process.pid, 0);
    slot.writeUInt32LE(1, 8);
    slot.writeUInt32LE(processStart(process.pid), 12);
    writeSync(fd, slot, 0, 16, LOCK_TABLE_OFFSET + 200 * 16);
    closeSync(fd);
    const drained = (st: { transports: { flags: number }[] }): number[] => st.transports.map((x) => x.flags & DRAINED);
    assert.deepEqual(a.transact(POOL, drained), [0, 0, 0]);
    assert.equal(a.info().kind, 'memory');
    // Another process drains smtp1 (one that passes the stuck slot at once, as a command does after 10 s).
    const admin = store(path, lines, { lockStaleMs: 0 });
    admin.transact(POOL, (st) => { st.transports[1]!.flags |= DRAINED; });
    admin.close();
    assert.deepEqual(a.transact(POOL, drained), [0, DRAINED, 0], 'the next transaction sees the drain');
    assert.deepEqual(a.peekFlags(POOL)!.flags.map((f) => f & DRAINED), [0, DRAINED, 0], 'and so does a repeat lookup\'s peek');
    assert.equal(a.info().kind, 'memory', 'still from memory: the lock is still held');
    assert.equal(lines.filter((l) => /serving from memory/.test(l)).length, 1);
    a.close();
  } finally {
    t.cleanup();
  }
});
