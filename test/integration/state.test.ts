import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AsNobody, BIN, Interactive, POOL_321, countReplies, keys, runPostbal, tempDir } from '../helpers/postbal.js';
import { processStart } from '../../src/state/peers.js';

function status(cfg: string, state: string): string {
  return execFileSync(process.execPath, [BIN, 'status', '-c', cfg, '-s', state], { encoding: 'utf8' });
}

test('bad state never stops mail: empty, foreign, truncated and corrupt files are replaced', async () => {
  for (const [name, content] of [
    ['empty', Buffer.alloc(0)],
    ['foreign', Buffer.from('this is somebody else\'s file\n')],
    ['perl-storable', Buffer.from('pst0\x04\x0b\x0812345678\x04\x08\x08\x08\x0a', 'latin1')],
    ['truncated', Buffer.from('PBS1')],
  ] as const) {
    const t = tempDir();
    try {
      const cfg = t.file('p.cf', POOL_321);
      const state = join(t.dir, 's');
      writeFileSync(state, content, { mode: 0o600 });
      const r = await runPostbal(['-c', cfg, '-s', state, '--log-stderr'], keys('a', 6));
      assert.equal(r.stdout, '200 smtp0:\n200 smtp1:\n200 smtp0:\n200 smtp2:\n200 smtp1:\n200 smtp0:\n', name);
      assert.match(r.stderr, /replacing it with a fresh state/, name);
      assert.match(status(cfg, state), /position: +6 picks/, name);
    } finally {
      t.cleanup();
    }
  }
});

test('a state file written for another pool starts a fresh sequence', async () => {
  const t = tempDir();
  try {
    const state = join(t.dir, 's');
    await runPostbal(['-c', t.file('a.cf', '{1}smtp0:\n{1}smtp1:\n'), '-s', state, '--syslog', 'none'], keys('x', 3));
    const r = await runPostbal(['-c', t.file('b.cf', POOL_321), '-s', state, '--log-stderr'], keys('y', 2));
    assert.equal(r.stdout, '200 smtp0:\n200 smtp1:\n');
    assert.match(r.stderr, /different pool/);
  } finally {
    t.cleanup();
  }
});

test('a flipped bit in the header is caught by the checksum', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const state = join(t.dir, 's');
    await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys('x', 4));
    const b = readFileSync(state);
    b[70]! ^= 0x10;
    writeFileSync(state, b);
    const r = await runPostbal(['-c', cfg, '-s', state, '--log-stderr'], keys('y', 1));
    assert.equal(r.stdout, '200 smtp0:\n');
    assert.match(r.stderr, /corrupt/);
  } finally {
    t.cleanup();
  }
});

test('unsafe state is refused and lookups are served from memory with one warning', async () => {
  const cases: [string, (dir: string) => string][] = [
    ['symlinked file', (dir) => { writeFileSync(join(dir, 'real'), ''); symlinkSync(join(dir, 'real'), join(dir, 's')); return join(dir, 's'); }],
    ['world-writable file', (dir) => { writeFileSync(join(dir, 's'), ''); chmodSync(join(dir, 's'), 0o666); return join(dir, 's'); }],
    ['world-writable directory', (dir) => { mkdirSync(join(dir, 'w')); chmodSync(join(dir, 'w'), 0o777); return join(dir, 'w', 's'); }],
    ['symlinked directory', (dir) => { mkdirSync(join(dir, 'd')); symlinkSync(join(dir, 'd'), join(dir, 'l')); return join(dir, 'l', 's'); }],
    ['state path is a directory', (dir) => { mkdirSync(join(dir, 's')); return join(dir, 's'); }],
    ['FIFO', (dir) => { execFileSync('mkfifo', [join(dir, 's')]); return join(dir, 's'); }],
    ['missing parent', (dir) => join(dir, 'no', 'such', 's')],
    ['under /proc', () => '/proc/self/postbal/s'],
  ];
  for (const [name, make] of cases) {
    const t = tempDir();
    try {
      const state = make(t.dir);
      const r = await runPostbal(['-c', t.file('p.cf', POOL_321), '-s', state, '--log-stderr'], keys('m', 7), { timeoutMs: 120_000 });
      assert.equal(r.stdout, '200 smtp0:\n200 smtp1:\n200 smtp0:\n200 smtp2:\n200 smtp1:\n200 smtp0:\n200 smtp0:\n', name);
      assert.equal(r.stderr.match(/serving from memory/g)?.length, 1, `${name}: ${r.stderr}`);
      if (name === 'symlinked file') assert.equal(readFileSync(join(t.dir, 'real'), 'utf8'), '', 'symlink target untouched');
    } finally {
      t.cleanup();
    }
  }
});

test('the state file is created private (0600)', async () => {
  const t = tempDir();
  try {
    const state = join(t.dir, 'sub', 's');
    await runPostbal(['-c', t.file('p.cf', POOL_321), '-s', state, '--syslog', 'none'], keys('m', 1));
    assert.equal(statSync(state).mode & 0o777, 0o600);
    assert.equal(statSync(join(t.dir, 'sub')).mode & 0o777, 0o700);
  } finally {
    t.cleanup();
  }
});

test('a stale lock left by a dead process is broken at once', async () => {
  const t = tempDir();
  try {
    const state = join(t.dir, 's');
    writeFileSync(`${state}.lock`, '999999 deadbeef\n', { mode: 0o600 });
    const start = Date.now();
    const r = await runPostbal(['-c', t.file('p.cf', POOL_321), '-s', state, '--log-stderr'], keys('m', 1));
    assert.equal(r.stdout, '200 smtp0:\n');
    // At once: a wait would have ended in "serving from memory"; the time bound is only a guard against a hang.
    assert.ok(Date.now() - start < 60_000);
    assert.match(r.stderr, /stale lock/);
    assert.doesNotMatch(r.stderr, /serving from memory/);
    assert.equal(existsSync(`${state}.lock`), false);
  } finally {
    t.cleanup();
  }
});

test('a sidecar lock held by a live, stuck postbal: a lookup waits at most the lock timeout, then is answered from memory; the lock is not overruled', async () => {
  const t = tempDir();
  try {
    const state = join(t.dir, 's');
    // Our own pid and start time: a live postbal, never going to release it.
    writeFileSync(`${state}.lock`, `${process.pid} ${processStart(process.pid)} 1234.1\n`, { mode: 0o600 });
    const start = Date.now();
    const r = await runPostbal(['-c', t.file('p.cf', POOL_321), '-s', state, '--log-stderr'], keys('m', 2));
    const took = Date.now() - start;
    assert.equal(r.stdout, '200 smtp0:\n200 smtp1:\n');
    assert.ok(took >= 1000 && took < 60_000, `took ${took} ms`);
    assert.match(r.stderr, /held by pid \d+ for over 1\d\d\d ms; serving from memory/);
    assert.doesNotMatch(r.stderr, /stale lock/);
    assert.ok(existsSync(`${state}.lock`));
  } finally {
    t.cleanup();
  }
});

test('a sidecar lock whose PID now names another process (started at another time) is broken at once', async () => {
  const t = tempDir();
  try {
    const state = join(t.dir, 's');
    writeFileSync(`${state}.lock`, `${process.pid} ${processStart(process.pid) + 1} 1234.1\n`, { mode: 0o600 });
    const start = Date.now();
    const r = await runPostbal(['-c', t.file('p.cf', POOL_321), '-s', state, '--log-stderr'], keys('m', 2));
    assert.equal(r.stdout, '200 smtp0:\n200 smtp1:\n');
    // Without waiting for the lock: a wait would have ended in "serving from memory" (asserted absent below); the bound is only against a hang.
    assert.ok(Date.now() - start < 60_000, `took ${Date.now() - start} ms`);
    assert.match(r.stderr, /stale lock/);
    assert.doesNotMatch(r.stderr, /serving from memory/);
  } finally {
    t.cleanup();
  }
});

test('SIGKILL at random instants: state always parses, no lock of a killed instance waited for, sharing stays exact', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const state = join(t.dir, 's');
    const rounds = 25;
    const received = new Map<string, number>();
    const count = (reply: string): void => {
      received.set(reply, (received.get(reply) ?? 0) + 1);
    };
    for (let round = 0; round < rounds; round++) {
      // A victim asked one request at a time, as Postfix asks, killed in the
      // middle of a request; meanwhile another instance serves a burst.
      const victim = new Interactive(['-c', cfg, '-s', state, '--syslog', 'none']);
      const other = runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys(`o${round}-`, 2000), { chunk: 64 });
      const stop = Date.now() + Math.random() * 150;
      let i = 0;
      while (Date.now() < stop) count(await victim.ask(`get v${round}-${i++}@x`));
      victim.child.stdin.write(`get v${round}-last@x\n`);
      await new Promise((r) => setTimeout(r, Math.random() * 2));
      await victim.kill();
      for (const line of (await other).stdout.split('\n')) if (line) count(line);
      // No stall: told by what the instance says (a lock it had to wait for ends in 'serving
      // from memory' after 1 s), not by a clock that a loaded machine slows; 60 s is a hang guard.
      const fresh = new Interactive(['-c', cfg, '-s', state, '--log-stderr']);
      const reply = await fresh.ask(`get fresh${round}@x`, 60_000);
      assert.match(reply, /^200 smtp[012]:$/);
      count(reply);
      assert.equal(await fresh.end(), 0);
      assert.doesNotMatch(fresh.stderr, /serving from memory|lock/i, `round ${round}: the killed holder's lock was waited for`);
      assert.match(status(cfg, state), /position: +\d+ picks/);
    }
    // Exactness: every reply received, against the weights; each killed
    // request may have used a position whose reply never arrived.
    const total = [...received.values()].reduce((a, b) => a + b, 0);
    for (const [reply, w] of [['200 smtp0:', 3], ['200 smtp1:', 2], ['200 smtp2:', 1]] as const) {
      const got = received.get(reply) ?? 0;
      assert.ok(Math.abs(got - (total * w) / 6) <= 2 + rounds, `${reply}: ${got} of ${total}`);
    }
  } finally {
    t.cleanup();
  }
});

test('an unwritable state directory: served from memory with one warning', (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to run postbal as another user');
    return;
  }
  const dir = tempDir();
  try {
    // Owned by root, mode 0755: user nobody can read but not write it.
    const nobody = new AsNobody(dir.dir);
    const cfg = nobody.readable('p.cf', POOL_321);
    const r = nobody.run(['-c', cfg, '-s', join(dir.dir, 's'), '--log-stderr'], 'get a@x\nget b@x\nget c@x\n');
    assert.equal(r.stdout, '200 smtp0:\n200 smtp1:\n200 smtp0:\n');
    assert.equal(r.stderr.match(/serving from memory/g)?.length, 1, r.stderr);
    assert.match(r.stderr, /EACCES/);
  } finally {
    dir.cleanup();
  }
});

/** Writes lock-table slot 200 (offset 4096) as held forever with ticket 1 by our pid, recorded with start time `start`. */
function holdSlot(state: string, start: number): void {
  const b = readFileSync(state);
  b.writeUInt32LE(process.pid, 4096 + 200 * 16);
  b.writeUInt32LE(1, 4096 + 200 * 16 + 8);
  b.writeUInt32LE(start, 4096 + 200 * 16 + 12);
  writeFileSync(state, b);
}

test('a lock-table slot held by a killed instance whose PID now names another process is passed at once', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const state = join(t.dir, 's');
    await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys('a', 1));
    holdSlot(state, processStart(process.pid) + 1);
    const start = Date.now();
    const r = await runPostbal(['-c', cfg, '-s', state, '--log-stderr'], keys('b', 3), { chunk: 8 });
    // The shared sequence goes on: smtp0 was the first pick.
    assert.equal(r.stdout, '200 smtp1:\n200 smtp0:\n200 smtp2:\n');
    assert.ok(Date.now() - start < 60_000, `took ${Date.now() - start} ms`);
    assert.doesNotMatch(r.stderr, /serving from memory/);
  } finally {
    t.cleanup();
  }
});

test('a lock-table slot held by a live, stuck postbal: one lookup waits the lock timeout, the rest are answered from memory at once; postbal drain outwaits it and lands', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const state = join(t.dir, 's');
    await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys('a', 1));
    holdSlot(state, processStart(process.pid));
    const start = Date.now();
    const r = await runPostbal(['-c', cfg, '-s', state, '--log-stderr'], keys('b', 3), { chunk: 8 });
    const took = Date.now() - start;
    assert.equal(r.stdout.split('\n').length, 4, r.stdout);
    assert.ok(took >= 1000 && took < 60_000, `took ${took} ms`);
    assert.equal(r.stderr.match(/lock table slot 200 held for over 1000 ms; serving from memory/g)?.length, 1, r.stderr);
    // The command is not on the mail path: it waits until the holder counts as stuck (10 s), then changes the state.
    const t0 = Date.now();
    const drain = spawnSync(process.execPath, [BIN, '-c', cfg, '-s', state, '--syslog', 'none', 'drain', 'smtp1'], { encoding: 'utf8' });
    const waited = Date.now() - t0;
    assert.equal(drain.status, 0, drain.stderr);
    assert.ok(waited >= 10_000 && waited < 60_000, `drain took ${waited} ms`);
    assert.match(status(cfg, state), /smtp1: +0 +2 .* DRAINED /);
  } finally {
    t.cleanup();
  }
});

test('hostile user: a lock file planted by another user and held forever by that user\'s live process is not trusted, and no lookup stalls', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to act as two other users');
    return;
  }
  const d = tempDir();
  const mallory = 12345;
  const holder = spawn('sleep', ['600'], { uid: mallory, gid: mallory, stdio: 'ignore' });
  try {
    const nobody = new AsNobody(d.dir);
    const cfg = nobody.readable('p.cf', POOL_321);
    const state = join(nobody.ownDir('state'), 's');
    // Planted while the directory was briefly open to others, as a race would leave it.
    writeFileSync(`${state}.lock`, `${holder.pid} 00000000\n`, { mode: 0o644 });
    chownSync(`${state}.lock`, mallory, mallory);
    const p = spawn(process.execPath, [nobody.bin, '-c', cfg, '-s', state, '--log-stderr'], { uid: nobody.uid, gid: nobody.uid, env: { PATH: '/usr/bin:/bin' }, cwd: '/' });
    let out = '';
    let err = '';
    p.stdout.setEncoding('latin1').on('data', (x: string) => { out += x; });
    p.stderr.setEncoding('utf8').on('data', (x: string) => { err += x; });
    // One request at a time, as Postfix asks: a lookup that waited for the lock would take >= 0.5 s.
    const slowest = { ms: 0 };
    for (let i = 0; i < 60; i++) {
      const before = out.length;
      const t0 = Date.now();
      p.stdin.write(`get k${i}@example.com\n`);
      while (out.length === before || !out.endsWith('\n')) await sleep(1);
      slowest.ms = Math.max(slowest.ms, Date.now() - t0);
    }
    p.stdin.end();
    await new Promise((r) => p.once('close', r));
    const counts = countReplies(out);
    assert.deepEqual([counts.get('200 smtp0:'), counts.get('200 smtp1:'), counts.get('200 smtp2:')], [30, 20, 10]);
    t.diagnostic(`60 lookups one at a time, slowest ${slowest.ms} ms`);
    // No time bound but one against a hang: that no lookup waited on the lock is told by the log below (one fallback, 'refusing to wait').
    assert.ok(slowest.ms < 30_000, `a lookup took ${slowest.ms} ms`);
    assert.equal(err.match(/serving from memory/g)?.length, 1, err);
    assert.match(err, /owned by uid 12345, not by us .*refusing to wait for it/);
    assert.ok(existsSync(`${state}.lock`), 'the other user\'s file is left alone');
  } finally {
    holder.kill('SIGKILL');
    d.cleanup();
  }
});

test('hostile user: a state file planted by another user, or hard-linked elsewhere, is not used (as nobody)', (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to act as other users');
    return;
  }
  const d = tempDir();
  try {
    const nobody = new AsNobody(d.dir);
    const cfg = nobody.readable('p.cf', POOL_321);
    for (const [name, plant] of [
      ['owned by another user', (s: string) => { writeFileSync(s, Buffer.alloc(0), { mode: 0o600 }); chownSync(s, 12345, 12345); }],
      ['hard-linked (a second name the planter controls)', (s: string) => {
        writeFileSync(s, Buffer.alloc(0), { mode: 0o600 });
        chownSync(s, nobody.uid, nobody.uid);
        execFileSync('ln', [s, join(d.dir, 'other-name')]);
      }],
    ] as const) {
      const state = join(nobody.ownDir(`state-${name.length}`), 's');
      plant(state);
      const r = nobody.run(['-c', cfg, '-s', state, '--log-stderr'], 'get a@x\nget b@x\nget c@x\n');
      assert.equal(r.stdout, '200 smtp0:\n200 smtp1:\n200 smtp0:\n', name);
      assert.equal(r.stderr.match(/serving from memory/g)?.length, 1, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /EACCES|hard links/, name);
      assert.equal(statSync(state).size, 0, `${name}: the planted file is left untouched`);
    }
  } finally {
    d.cleanup();
  }
});

test('status as a user who cannot read the state file: drain marks and health are unknown, not "active"; exit 77, the user named', (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to act as user nobody');
    return;
  }
  const d = tempDir();
  try {
    const nobody = new AsNobody(d.dir);
    const cfg = nobody.readable('p.cf', POOL_321);
    // Root's own state directory and file (0700/0600): nobody cannot open it.
    mkdirSync(join(d.dir, 'rootstate'), { mode: 0o700 });
    const state = join(d.dir, 'rootstate', 's');
    const drain = spawnSync(process.execPath, [BIN, 'drain', 'smtp1', '-c', cfg, '-s', state, '--syslog', 'none'], { encoding: 'utf8' });
    assert.equal(drain.status, 0, drain.stderr);
    chmodSync(join(d.dir, 'rootstate'), 0o755);
    const text = nobody.run(['status', '-c', cfg, '-s', state], '');
    assert.equal(text.status, 77, text.stderr);
    assert.match(text.stdout, /UNKNOWN: cannot open state file \(EACCES\) as nobody \(uid \d+\)/);
    assert.match(text.stdout, /smtp1:\s.*UNKNOWN/);
    assert.doesNotMatch(text.stdout, /\bactive\b +[-\d]/, 'never shown as active');
    const json = JSON.parse(nobody.run(['status', '--json', '-c', cfg, '-s', state], '').stdout) as { transports: { drained: boolean | null; health: string }[] };
    assert.deepEqual(json.transports.map((x) => [x.drained, x.health]), [[null, 'unknown'], [null, 'unknown'], [null, 'unknown']]);
    // Root reads it (as the directory's owner, root here) and sees the drain.
    const root = spawnSync(process.execPath, [BIN, 'status', '-c', cfg, '-s', state], { encoding: 'utf8' });
    assert.equal(root.status, 0);
    assert.match(root.stdout, /smtp1:\s.*DRAINED/);
  } finally {
    d.cleanup();
  }
});
