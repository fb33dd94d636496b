/**
 * The serving config (config/source.ts) with the clock passed in: the
 * re-check's rate limit on both sides, reloads only on change, a broken edit
 * keeping what was in force, the last good copy for an instance started on a
 * broken file, and the one trusted-file reader's refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ConfigSource, MAX_CONFIG_BYTES, RELOAD_CHECK_MS, readTrustedFile, type KeptConfig, type LastGoodKeeper } from '../../src/config/source.js';
import type { ConfigError } from '../../src/errors.js';
import { tempDir } from '../helpers/postbal.js';

function source(file: string, keeper?: LastGoodKeeper) {
  const events: string[] = [];
  const src = new ConfigSource(file, {
    loaded: (p, first, recovered) => events.push(`loaded ${p.pool.transports.map((t) => t.value).join(',')}${first ? ' first' : ''}${recovered ? ' recovered' : ''}`),
    failed: (e: ConfigError, kept: KeptConfig) => events.push(`failed ${e.problems[0]!.field} kept ${kept.kind}`),
  }, keeper);
  return { src, events, values: () => src.current()?.transports.map((t) => t.value).join(',') };
}

test('config source: re-read at most every RELOAD_CHECK_MS, and only when the file changed', () => {
  const t = tempDir();
  try {
    const file = t.file('p.cf', '{1}smtp0:\n');
    const s = source(file);
    s.src.refresh(0, true);
    assert.deepEqual(s.events, ['loaded smtp0: first']);
    writeFileSync(file, '{1}smtp1:\n');
    s.src.refresh(RELOAD_CHECK_MS - 1);
    assert.equal(s.values(), 'smtp0:', 'not before RELOAD_CHECK_MS');
    s.src.refresh(RELOAD_CHECK_MS);
    assert.equal(s.values(), 'smtp1:', 'at RELOAD_CHECK_MS');
    s.src.refresh(RELOAD_CHECK_MS * 3);
    assert.equal(s.events.length, 2, 'unchanged: not parsed again');
    writeFileSync(file, '{1}smtp2:\n');
    s.src.refresh(RELOAD_CHECK_MS * 3 + 1, true);
    assert.equal(s.values(), 'smtp2:', 'force skips the rate limit');
  } finally {
    t.cleanup();
  }
});

test('config source: a broken edit keeps this instance\'s config; a new instance on a broken file serves the kept copy, then recovers', () => {
  const t = tempDir();
  try {
    const file = t.file('p.cf', '{1}smtp0:\n');
    let kept: string | undefined;
    const keeper: LastGoodKeeper = { save: (text) => { kept = text; }, load: () => (kept === undefined ? undefined : { text: kept, describe: 'kept copy' }) };
    const a = source(file, keeper);
    a.src.refresh(0, true);
    assert.equal(kept, '{1}smtp0:\n', 'a clean load is kept');
    writeFileSync(file, '{1}smtp0:\nbroken line\n');
    a.src.refresh(1000);
    assert.deepEqual(a.events.slice(1), ['failed entry kept memory']);
    assert.equal(a.values(), 'smtp0:');
    const b = source(file, keeper);
    b.src.refresh(0, true);
    assert.deepEqual(b.events, ['failed entry kept last-good']);
    assert.equal(b.values(), 'smtp0:');
    writeFileSync(file, '{1}smtp0:\nstill broken\n');
    b.src.refresh(1000);
    assert.deepEqual(b.events.slice(1), ['failed entry kept last-good'], 'still the kept copy');
    writeFileSync(file, '{1}smtp3:\n');
    b.src.refresh(2000);
    assert.deepEqual(b.events.slice(2), ['loaded smtp3: recovered']);
    const c = source(join(t.dir, 'missing.cf'));
    c.src.refresh(0, true);
    assert.deepEqual(c.events, ['failed file kept none']);
    assert.equal(c.src.current(), undefined);
    kept = 'not a config';
    const d = source(join(t.dir, 'missing.cf'), keeper);
    d.src.refresh(0, true);
    assert.deepEqual(d.events, ['failed file kept none'], 'a kept copy that does not parse is not used');
  } finally {
    t.cleanup();
  }
});

test('trusted-file reader: refuses a directory, a FIFO (without blocking), a file over 1 MiB, group- or world-writable, or another user\'s', () => {
  const t = tempDir();
  const opts = { what: 'a readable config file', risk: 'another local user could send mail through any transport' };
  const refused = (file: string, pattern: RegExp): void => {
    assert.throws(() => readTrustedFile(file, opts), (e: ConfigError) => pattern.test(e.message), file);
  };
  try {
    const ok = t.file('ok.cf', 'x');
    chmodSync(ok, 0o600);
    assert.equal(readTrustedFile(ok, opts).toString(), 'x');
    mkdirSync(join(t.dir, 'dir'));
    refused(join(t.dir, 'dir'), /expected a regular file, got a directory, FIFO or device/);
    execFileSync('mkfifo', [join(t.dir, 'fifo')]);
    refused(join(t.dir, 'fifo'), /expected a regular file, got a directory, FIFO or device/);
    const big = t.file('big.cf', 'x'.repeat(MAX_CONFIG_BYTES + 1));
    chmodSync(big, 0o644);
    refused(big, new RegExp(`expected at most ${MAX_CONFIG_BYTES} bytes, got ${MAX_CONFIG_BYTES + 1} bytes`));
    const edge = t.file('edge.cf', 'x'.repeat(MAX_CONFIG_BYTES));
    chmodSync(edge, 0o644);
    assert.equal(readTrustedFile(edge, opts).length, MAX_CONFIG_BYTES, 'exactly the limit is read');
    for (const mode of [0o620, 0o602, 0o666]) {
      chmodSync(ok, mode);
      refused(ok, new RegExp(`owner and mode: expected a regular file owned by root.*writable by no one else \\(another local user could send mail through any transport\\), got a file owned by .*mode ${mode.toString(8)}`));
    }
    chmodSync(ok, 0o644);
    if (process.geteuid?.() === 0) {
      chownSync(ok, 12345, 0);
      refused(ok, /owned by uid 12345, mode 644/);
      chownSync(ok, 0, 0);
      assert.equal(readTrustedFile(ok, opts).toString(), 'x', 'root\'s, 644');
    }
    refused(join(t.dir, 'nope.cf'), /nope\.cf: file: expected a readable config file, got no such file/);
  } finally {
    t.cleanup();
  }
});
