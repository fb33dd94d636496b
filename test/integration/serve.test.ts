import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, POOL_321, ROOT, countReplies, keys, runPostbal, tempDir } from '../helpers/postbal.js';

interface Golden {
  readonly request: string;
  readonly reply: string;
  readonly why: string;
}

function loadGolden(): Golden[] {
  return readFileSync(join(ROOT, 'test/fixtures/tcp-table.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [request, reply, why] = l.split('\t');
      return { request: JSON.parse(request!) as string, reply: JSON.parse(reply!) as string, why: why ?? '' };
    });
}

test('replies byte for byte, whatever the read size, nothing on stderr', async () => {
  const golden = loadGolden();
  const input = golden.map((g) => `${g.request}\n`).join('');
  const expected = golden.map((g) => `${g.reply}\n`).join('');
  for (const chunk of [undefined, 1, 16, 128, 4096]) {
    const t = tempDir();
    try {
      const cfg = t.file('postbal.cf', POOL_321);
      const r = await runPostbal(['-c', cfg, '-s', join(t.dir, 'state'), '--syslog', 'none'], input, chunk ? { chunk } : {});
      const got = r.stdout.split('\n');
      golden.forEach((g, i) => assert.equal(got[i], g.reply, `${g.why} (chunk ${chunk ?? 'all'})`));
      assert.equal(r.stdout, expected);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
    } finally {
      t.cleanup();
    }
  }
});

test('default syslog target: still nothing on stdout or stderr but replies', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', POOL_321);
    const r = await runPostbal(['-c', cfg, '-s', join(t.dir, 'state')], 'get a@x\nbogus\n');
    assert.equal(r.stdout, '200 smtp0:\n400 error:invalid_request\n');
    assert.equal(r.stderr, '');
  } finally {
    t.cleanup();
  }
});

test('an unterminated last line is answered; EOF exits 0', async () => {
  const t = tempDir();
  try {
    const r = await runPostbal(['-c', t.file('p.cf', POOL_321), '-s', 'none', '--syslog', 'none'], 'get x@y');
    assert.equal(r.stdout, '200 smtp0:\n');
    assert.equal(r.code, 0);
  } finally {
    t.cleanup();
  }
});

test('over-long and binary lines get 400 and the next line is served', async () => {
  const t = tempDir();
  try {
    const junk = Buffer.alloc(200_000, 0x41);
    const input = Buffer.concat([Buffer.from('get '), junk, Buffer.from('\n\u0000\u00ff\u0001\nget ok@x\n', 'latin1')]);
    const r = await runPostbal(['-c', t.file('p.cf', POOL_321), '-s', 'none', '--syslog', 'none'], input);
    assert.equal(r.stdout, '400 error:invalid_request\n400 error:invalid_request\n200 smtp0:\n');
    assert.equal(r.stderr, '');
  } finally {
    t.cleanup();
  }
});

test('smoothness: 3:2:1 never clumps', async () => {
  const t = tempDir();
  try {
    const r = await runPostbal(['-c', t.file('p.cf', POOL_321), '-s', join(t.dir, 's'), '--syslog', 'none'], keys('k', 600));
    const seq = r.stdout.trim().split('\n').map((l) => l.slice(4));
    for (let i = 0; i < seq.length; i += 6) {
      assert.deepEqual(seq.slice(i, i + 6), ['smtp0:', 'smtp1:', 'smtp0:', 'smtp2:', 'smtp1:', 'smtp0:']);
    }
  } finally {
    t.cleanup();
  }
});

test('restarts continue the sequence where it stopped', async () => {
  const t = tempDir();
  try {
    const args = ['-c', t.file('p.cf', POOL_321), '-s', join(t.dir, 's'), '--syslog', 'none'];
    const all: string[] = [];
    for (let run = 0; run < 4; run++) {
      const r = await runPostbal(args, keys(`r${run}-`, 3 + run));
      all.push(...r.stdout.trim().split('\n'));
    }
    const expected = ['smtp0:', 'smtp1:', 'smtp0:', 'smtp2:', 'smtp1:', 'smtp0:'];
    all.forEach((line, i) => assert.equal(line, `200 ${expected[i % 6]}`, `lookup ${i}`));
  } finally {
    t.cleanup();
  }
});

test('exactness: 4 concurrent instances sharing one state file', async () => {
  const t = tempDir();
  try {
    const args = ['-c', t.file('p.cf', POOL_321), '-s', join(t.dir, 's'), '--syslog', 'none'];
    const per = 6000;
    // Small chunks make the instances interleave at fine grain.
    const runs = await Promise.all([0, 1, 2, 3].map((i) => runPostbal(args, keys(`p${i}-`, per), { chunk: 512 + i * 97 })));
    const total = new Map<string, number>();
    for (const r of runs) {
      assert.equal(r.code, 0);
      assert.equal(r.stderr, '');
      for (const [k, v] of countReplies(r.stdout)) total.set(k, (total.get(k) ?? 0) + v);
    }
    const n = per * 4;
    const want = { '200 smtp0:': n / 2, '200 smtp1:': n / 3, '200 smtp2:': n / 6 };
    for (const [k, v] of Object.entries(want)) {
      const got = total.get(k) ?? 0;
      assert.ok(Math.abs(got - v) <= 2, `${k}: ${got} vs ${v}`);
    }
  } finally {
    t.cleanup();
  }
});

test('a line per lookup only with --log-lookups; always one summary at exit, and a line for every failure', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', POOL_321);
    const input = 'get a@x\nget b@x\nget a@x\nget *\nput x y\n';
    const quiet = await runPostbal(['-c', cfg, '-s', 'none', '--log-stderr'], input);
    assert.doesNotMatch(quiet.stderr, /key=<a@x>/);
    assert.match(quiet.stderr, /invalid request: /);
    assert.match(quiet.stderr, /answered 4 lookups: 2 new picks, 1 repeats, 1 not found, 0 failed; 1 invalid requests/);
    const loud = await runPostbal(['-c', cfg, '-s', 'none', '--log-stderr', '--log-lookups'], input);
    assert.match(loud.stderr, /key=<a@x> transport=smtp0: pick\n.*key=<b@x> transport=smtp1: pick\n.*key=<a@x> transport=smtp0: repeat\n.*key=<\*> not found\n/);
    assert.equal(quiet.stdout, loud.stdout);
  } finally {
    t.cleanup();
  }
});

test('a word that names no command is an error with the nearest command, not an argument of serving; unknown options are commander\'s', () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    for (const [args, want] of [
      [['stauts'], /unknown command 'stauts'; did you mean status\?/],
      [['-c', cfg, '--syslog', 'none', 'drian', 'smtp1'], /unknown command 'drian'; did you mean drain\?/],
      [['frobnicate'], /unknown command 'frobnicate' \(commands: serve, check, status/],
      [['--confg', cfg], /unknown option '--confg'\s+\(Did you mean --config\?\)/],
    ] as const) {
      // stdin not a socket, as on a terminal: the error goes to stderr (under spawn, to syslog).
      const r = spawnSync(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.equal(r.stdout, '');
    }
    const ok = spawnSync(process.execPath, [BIN, '-c', cfg, '-s', 'none', '--syslog', 'none', 'check'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    assert.equal(ok.status, 0, 'a command after global options is found');
  } finally {
    t.cleanup();
  }
});
