/**
 * The handler, the config source and the locks in-process, with the clocks
 * and randomness passed in: exact pick orders, the memo, drains, reloads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync, writeFileSync, writeSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSource } from '../../src/config/source.js';
import { LookupHandler } from '../../src/handler.js';
import { MemoryStateStore } from '../../src/state/memory-store.js';
import { hashLo } from '../../src/keys/hash.js';
import { DRAINED } from '../../src/balance/eligibility/drain.js';
import { BakeryLock } from '../../src/state/bakery-lock.js';
import { FileLock } from '../../src/state/lock.js';
import { LOCK_SLOT_BYTES, LOCK_TABLE_OFFSET, fileBytes } from '../../src/state/layout.js';
import type { Level, Logger } from '../../src/log/types.js';
import type { Outcome, Request } from '../../src/protocol/types.js';
import { tempDir } from '../helpers/postbal.js';

class Lines implements Logger {
  readonly lines: string[] = [];
  log(level: Level, message: string): void {
    this.lines.push(`${level}: ${message}`);
  }
  close(): void {}
}

const get = (...keys: string[]): Request[] => keys.map((key) => ({ kind: 'lookup', key }));
const text = (o: readonly Outcome[]): string[] => o.map((x) => (x.kind === 'found' ? x.value : `${x.kind}:${x.reason}`));

function setup(cf: string, opts: { random?: () => number } = {}) {
  const t = tempDir();
  const file = t.file('p.cf', cf);
  const log = new Lines();
  let mono = 0;
  const config = new ConfigSource(file, { loaded: () => undefined, failed: () => undefined });
  const store = new MemoryStateStore({ memoTtlSec: 600, memoSlots: 64 });
  const handler = new LookupHandler({
    config, store, logger: log, logLookups: false, nowMs: () => 1_700_000_000_000, monotonicMs: () => (mono += 1000), ...opts,
  });
  const ask = (...keys: string[]): string[] => {
    const out = text(handler.handleBatch(get(...keys)));
    handler.afterReply();
    return out;
  };
  return { t, file, log, store, handler, ask, config };
}

test('handler: the exact smooth WRR order; a key asked again repeats its answer without a position', () => {
  const s = setup('{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n');
  try {
    assert.deepEqual(s.ask('a@x', 'b@x', 'c@x', 'd@x', 'e@x', 'f@x'), ['smtp0:', 'smtp1:', 'smtp0:', 'smtp2:', 'smtp1:', 'smtp0:']);
    // Once more each (qmgr after smtpd): the same answers, from the memo.
    assert.deepEqual(s.ask('d@x', 'a@x'), ['smtp2:', 'smtp0:']);
    // Twice in one burst: the second repeats the first.
    assert.deepEqual(s.ask('g@x', 'g@x', 'h@x'), ['smtp0:', 'smtp0:', 'smtp1:']);
    const seq = s.store.transact(s.config.current()!, (st) => st.seq);
    assert.equal(seq, 8, 'positions = distinct keys');
  } finally {
    s.t.cleanup();
  }
});

test('handler: a drain applies from the next lookup, remembered answers included; all drained -> fallback, logged once each', () => {
  const s = setup('{1}smtp0:\n{1}smtp1:\nfallback = retry:4.3.2 all drained\n');
  try {
    assert.deepEqual(s.ask('a@x', 'b@x'), ['smtp0:', 'smtp1:']);
    const pool = s.config.current()!;
    s.store.transact(pool, (st) => { st.transports[0]!.flags |= DRAINED; });
    // a@x was remembered with smtp0, now drained: picked again.
    assert.deepEqual(s.ask('a@x', 'c@x'), ['smtp1:', 'smtp1:']);
    s.store.transact(pool, (st) => { st.transports[1]!.flags |= DRAINED; });
    assert.deepEqual(s.ask('d@x', 'e@x'), ['retry:4.3.2 all drained', 'retry:4.3.2 all drained']);
    assert.deepEqual(s.log.lines.filter((l) => l.includes('drained:')), [
      'info: drained: smtp0:; picking from priority 0: smtp1:',
      'warning: drained: smtp0: smtp1:; no transport is available: lookups answer the fallback retry:4.3.2 all drained',
    ]);
  } finally {
    s.t.cleanup();
  }
});

test('handler: random and sticky draw from what they are given', () => {
  const draws = [0.1, 0.9, 0.6];
  let k = 0;
  const r = setup('algorithm = random\n{1}smtp0:\n{1}smtp1:\n', { random: () => draws[k++ % draws.length]! });
  try {
    assert.deepEqual(r.ask('a@x', 'b@x', 'c@x'), ['smtp0:', 'smtp1:', 'smtp1:']);
  } finally {
    r.t.cleanup();
  }
  const st = setup('algorithm = sticky\n{1}smtp0:\n{1}smtp1:\n{1}smtp2:\n');
  try {
    const first = st.ask('u1@one.example', 'u1@two.example');
    assert.deepEqual(st.ask('u2@one.example', 'u2@Two.Example.'), first, 'same domain, same transport');
  } finally {
    st.t.cleanup();
  }
});

test('handler: out of scope, wildcard and bad requests get their answers; an unusable config is a temporary failure', () => {
  const s = setup('match = example.com\n{1}smtp0:\n');
  try {
    const out = text(s.handler.handleBatch([...get('a@example.com', 'a@other.example', '*'), { kind: 'invalid', reason: 'bad' }]));
    assert.deepEqual(out, ['smtp0:', 'notFound:not_in_scope', 'notFound:not_found', 'tempFail:error:invalid_request']);
  } finally {
    s.t.cleanup();
  }
  const t = tempDir();
  try {
    const config = new ConfigSource(join(t.dir, 'missing.cf'), { loaded: () => undefined, failed: () => undefined });
    const h = new LookupHandler({ config, store: new MemoryStateStore({ memoTtlSec: 600, memoSlots: 64 }), logger: new Lines(), logLookups: false });
    assert.deepEqual(text(h.handleBatch(get('a@x'))), ['tempFail:error:config']);
  } finally {
    t.cleanup();
  }
});

test('config source: re-read when the file changes, not more often than every 500 ms; a broken edit keeps the last good config', () => {
  const t = tempDir();
  try {
    const file = t.file('p.cf', '{1}smtp0:\n');
    const events: string[] = [];
    const c = new ConfigSource(file, {
      loaded: (p, first) => events.push(`${first ? 'loaded' : 'reloaded'} ${p.pool.transports.map((x) => x.value).join(' ')}`),
      failed: (_e, kept) => events.push(`failed, kept=${kept.kind === 'memory'}`),
    });
    c.refresh(0);
    writeFileSync(file, '{1}smtp0:\n{1}smtp1:\n');
    utimesSync(file, new Date(), new Date(Date.now() + 2000));
    c.refresh(100);
    assert.equal(c.current()!.transports.length, 1, 'not re-checked within 500 ms');
    c.refresh(600);
    assert.equal(c.current()!.transports.length, 2);
    writeFileSync(file, '{x}smtp0:\n');
    utimesSync(file, new Date(), new Date(Date.now() + 4000));
    c.refresh(1200);
    assert.equal(c.current()!.transports.length, 2, 'last good kept');
    assert.deepEqual(events, ['loaded smtp0:', 'reloaded smtp0: smtp1:', 'failed, kept=true']);
  } finally {
    t.cleanup();
  }
});

test('locks: the lock table waits for a live holder until it releases; the sidecar lock times out, then breaks a dead holder\'s lock', () => {
  const t = tempDir();
  try {
    const path = t.file('s', '');
    writeFileSync(path, Buffer.alloc(fileBytes(0)));
    const fd = openSync(path, 'r+');
    const limits = { timeoutMs: 30, staleMs: 60_000 };
    const a = BakeryLock.claim(fd, limits)!;
    assert.deepEqual(a.acquire(), { ok: true });
    a.release();
    // Another live instance (pid 1 stands for it) holds ticket 1 in slot 5.
    const other = Buffer.alloc(16);
    other.writeUInt32LE(1, 0);
    other.writeUInt32LE(1, 8);
    writeSync(fd, other, 0, 16, LOCK_TABLE_OFFSET + 5 * LOCK_SLOT_BYTES);
    const blocked = a.acquire();
    assert.equal(blocked.ok, false);
    assert.match((blocked as { detail: string }).detail, /slot 5 held for over 30 ms/);
    other.writeUInt32LE(0, 8); // it releases
    writeSync(fd, other, 0, 16, LOCK_TABLE_OFFSET + 5 * LOCK_SLOT_BYTES);
    assert.deepEqual(a.acquire(), { ok: true });
    a.release();
    closeSync(fd);

    const lockPath = join(t.dir, 's.lock');
    const one = new FileLock(lockPath, limits);
    const two = new FileLock(lockPath, limits);
    assert.equal(one.acquire().ok, true);
    const r = two.acquire();
    assert.equal(r.ok, false);
    assert.equal((r as { reason: string }).reason, 'timeout');
    one.release();
    // A lock left by a process that no longer exists is broken at once.
    writeFileSync(lockPath, '999999999 dead\n', { mode: 0o600 });
    const got = two.acquire();
    assert.deepEqual(got, { ok: true, brokeStale: true });
    two.release();
  } finally {
    t.cleanup();
  }
});

test('handler: health and suspensions from the trouble region; automatic rules never leave a key without an answer', () => {
  const s = setup('{1}smtp0:\n{1}smtp1:\n');
  try {
    s.ask('warm@x');
    const pool = s.config.current()!;
    const id = (i: number): number => hashLo(pool.memberHashes[i]!);
    const now = 1_700_000_000_000;
    s.store.transact(pool, (_st, trouble) => trouble.replace({
      health: [{ id: id(0), down: true, failures: 3, sinceMs: now, retryAtMs: now + 30_000, rampMs: 60_000 }],
      suspensions: [{ id: id(1), destination: 'yahoo.com', untilMs: now + 3_600_000, reason: '421' }],
    }));
    // smtp0 down: others go to smtp1; yahoo.com has smtp1 suspended too, and no rule may leave it with nothing.
    assert.deepEqual(s.ask('a@x', 'b@x'), ['smtp1:', 'smtp1:']);
    assert.deepEqual(s.ask('c@mail.yahoo.com', 'd@yahoo.com').sort(), ['smtp0:', 'smtp1:'], 'as if no automatic rule applied');
    assert.ok(s.log.lines.some((l) => /down: smtp0:; picking from priority 0: smtp1:/.test(l)), s.log.lines.join('\n'));
  } finally {
    s.t.cleanup();
  }
  const f = setup('{1}smtp0:\n{1}smtp1:\nfallback = retry:4.3.2 no source IP\n');
  try {
    f.ask('warm@x');
    const pool = f.config.current()!;
    f.store.transact(pool, (_st, trouble) => trouble.replace({
      health: [0, 1].map((i) => ({ id: hashLo(pool.memberHashes[i]!), down: true, failures: 3, sinceMs: 1, retryAtMs: 2e12, rampMs: 60_000 })),
      suspensions: [],
    }));
    assert.deepEqual(f.ask('e@x'), ['retry:4.3.2 no source IP'], 'every transport down: the configured fallback');
  } finally {
    f.t.cleanup();
  }
});
