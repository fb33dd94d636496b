import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync, renameSync, unlinkSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, Interactive, POOL_321, ROOT, askUntil, runPostbal, tempDir } from '../helpers/postbal.js';

test('no usable config: every lookup answers 400 error:config and the process keeps running', async () => {
  const t = tempDir();
  try {
    const cfg = join(t.dir, 'missing.cf');
    const p = new Interactive(['-c', cfg, '-s', 'none', '--syslog', 'none']);
    assert.equal(await p.ask('get a@x'), '400 error:config');
    assert.equal(await p.ask('get b@x'), '400 error:config');
    // Fixed while running: takes effect within a second.
    writeFileSync(cfg, POOL_321);
    await askUntil(p, 'get c@x', (r) => r === '200 smtp0:');
    assert.equal(await p.end(), 0);
    assert.equal(p.stderr, '');
  } finally {
    t.cleanup();
  }
});

test('a broken config file never stops the mail: new instances serve the last good copy kept beside the state, say so once, and status shows it first', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    chmodSync(cfg, 0o644);
    mkdirSync(join(t.dir, 'st'), { mode: 0o700 });
    const state = join(t.dir, 'st', 'postbal.state');
    const kept = `${state}.last-good.cf`;
    const serve = (input: string) => runPostbal(['-c', cfg, '-s', state, '--log-stderr'], input);
    const first = await serve('get a@x\n');
    assert.equal(first.stdout, '200 smtp0:\n');
    const copy = readFileSync(kept, 'utf8');
    assert.match(copy, /^# postbal: the last configuration that loaded cleanly\n# source: .*p\.cf\n# sha256: [0-9a-f]{64}\n# loaded: \S+\n/);
    assert.ok(copy.endsWith(POOL_321), 'the text as it was');
    assert.equal(statSync(kept).mode & 0o777, 0o600);
    // A typo, then postfix reload: every new instance starts with the broken file.
    writeFileSync(cfg, '# test pool\n{3}smtp0:\n{2x}smtp1:\n{1}smtp2:\n');
    const broken = await serve('get b@x\nget c@x\nget d@x\n');
    assert.deepEqual(broken.stdout.split('\n').filter(Boolean), ['200 smtp1:', '200 smtp0:', '200 smtp2:'], 'served from the last good copy, the shared sequence going on');
    assert.match(broken.stderr, /p\.cf:3: weight: expected/);
    assert.equal(broken.stderr.match(/serving the last good configuration \(/g)?.length, 1, broken.stderr);
    assert.match(broken.stderr, /serving the last good configuration \(.*last-good\.cf, loaded from .*p\.cf at \S+, sha256 [0-9a-f]{12}\) since /);
    const status = spawnSync(process.execPath, [BIN, 'status', '-c', cfg, '-s', state], { encoding: 'utf8' });
    assert.equal(status.status, 78, 'the file is still broken');
    assert.match(status.stdout.split('\n')[0]!, /^WARNING: .*p\.cf cannot be loaded \(above\); serving instances use the last good copy/);
    assert.match(status.stdout, /smtp1:\s+0\s+2/);
    assert.match(status.stderr, /p\.cf:3: weight/);
    const json = JSON.parse(spawnSync(process.execPath, [BIN, 'status', '--json', '-c', cfg, '-s', state], { encoding: 'utf8' }).stdout) as { config: { valid: boolean; lastGood?: { sha256: string } } };
    assert.equal(json.config.valid, false);
    assert.match(json.config.lastGood?.sha256 ?? '', /^[0-9a-f]{64}$/);
    // Fixed: used as usual, and kept.
    writeFileSync(cfg, '{1}smtp9:\n');
    assert.equal((await serve('get e@x\n')).stdout, '200 smtp9:\n');
    assert.ok(readFileSync(kept, 'utf8').endsWith('{1}smtp9:\n'));
    // A copy another user could have written is not trusted; no copy: as before, 400 error:config.
    writeFileSync(cfg, '{x}smtp0:\n');
    chmodSync(kept, 0o666);
    assert.equal((await serve('get f@x\n')).stdout, '400 error:config\n');
    unlinkSync(kept);
    const none = await serve('get g@x\n');
    assert.equal(none.stdout, '400 error:config\n');
    assert.match(none.stderr, /no usable configuration in .*p\.cf and no last good copy beside the state/);
  } finally {
    t.cleanup();
  }
});

test('a changed config takes effect within 1 s; a broken edit keeps the last good one', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', '{1}smtp0:\n');
    const p = new Interactive(['-c', cfg, '-s', join(t.dir, 's'), '--log-stderr']);
    assert.equal(await p.ask('get a@x'), '200 smtp0:');
    writeFileSync(`${cfg}.new`, '{1}smtp7:[relay.example]\n');
    renameSync(`${cfg}.new`, cfg);
    await askUntil(p, 'get b@x', (r) => r === '200 smtp7:[relay.example]');
    // Until the re-check has read each broken state (it says so), every answer is the last good config's.
    const kept = (): number => p.stderr.split('keeping the last good configuration').length - 1;
    writeFileSync(cfg, '{1}smtp7:\nthis line is broken\n');
    await askUntil(p, 'get c@x', (r) => (assert.equal(r, '200 smtp7:[relay.example]'), kept() === 1));
    unlinkSync(cfg);
    await askUntil(p, 'get d@x', (r) => (assert.equal(r, '200 smtp7:[relay.example]'), kept() === 2));
    assert.equal(await p.ask('get e@x'), '200 smtp7:[relay.example]');
    assert.equal(await p.end(), 0);
    assert.match(p.stderr, /p\.cf:2: entry: expected/);
    assert.match(p.stderr, /keeping the last good configuration/);
  } finally {
    t.cleanup();
  }
});

test('check: prints the pool and the first cycle; 78 with every error', () => {
  const out = execFileSync(process.execPath, [BIN, 'check', '-c', join(ROOT, 'examples/postbal.cf')], { encoding: 'utf8' });
  assert.match(out, /OK, 3 transports in 1 tier\n/);
  assert.match(out, /smtp0: smtp1: smtp0: smtp2: smtp1: smtp0:/);
  const tiers = execFileSync(process.execPath, [BIN, 'check', '-c', join(ROOT, 'examples/postbal-tiers.cf')], { encoding: 'utf8' });
  assert.match(tiers, /in 2 tiers/);
  assert.match(tiers, /answers +every key; except relay\.example\.com, \*\.internal\.example\.com, "<>" \(the null sender\)/);
  assert.match(tiers, /fallback +retry:4\.3\.2 /);
  assert.match(tiers, /feedback +down after 3 connection failures, hold 30s \(up to 5m\), ramp 1m; suspend after 3 throttling replies in 10m, for 1h; 1 extra rule/);
  const warm = execFileSync(process.execPath, [BIN, 'check', '-c', join(ROOT, 'examples/postbal-warmup.cf')], { encoding: 'utf8' });
  assert.match(warm, /warm-up +smtp3: day caps 200, 500, 1000, 2000, 5000, 10000, 20000, 40000 \(stage 1 to 8;/);
  assert.match(warm, /warm-up +counted per provider: gmail\.com googlemail\.com \| outlook\.com hotmail\.com live\.com msn\.com \| yahoo\.com aol\.com ymail\.com; and other domains/);
  const fleet = execFileSync(process.execPath, [BIN, 'check', '-c', join(ROOT, 'examples/postbal-fleet.cf')], { encoding: 'utf8' });
  assert.match(fleet, /rate +smtp3:\[smtp\.relay\.example\]:587 at most 50000\/d \(GCRA: a burst of 50000, then one every [\d.]+s?, fleet-wide\)/);
  assert.match(fleet, /fleet +eu-outbound at redis:\/\/10\.0\.0\.5:6379\/0, this host mx1; shares drains/);
  const t = tempDir();
  try {
    // Each algorithm is described by its own module, and only wrr shows a cycle.
    for (const [algorithm, text] of [['random', /weighted random: each new key draws/], ['sticky', /sticky: each domain always gets/], ['wrr', /smooth weighted round robin: /]] as const) {
      const o = execFileSync(process.execPath, [BIN, 'check', '-c', t.file(`${algorithm}.cf`, `algorithm = ${algorithm}\n{3}smtp0:\n{1}smtp1:\n`)], { encoding: 'utf8' });
      assert.match(o, text, algorithm);
      assert.equal(/first cycle/.test(o), algorithm === 'wrr', algorithm);
    }
    const bad = spawnSync(process.execPath, [BIN, 'check', '-c', t.file('bad.cf', '{3}smtp0:\n{-1}smtp1:\n')], { encoding: 'utf8' });
    assert.equal(bad.status, 78);
    assert.match(bad.stderr, /bad\.cf:2: weight: expected an integer from 1 to 1000000, got "-1"/);
    const missing = spawnSync(process.execPath, [BIN, 'check', '-c', join(t.dir, 'nope.cf')], { encoding: 'utf8' });
    assert.equal(missing.status, 78);
    assert.match(missing.stderr, /nope\.cf: file: expected a readable config file, got no such file/);
  } finally {
    t.cleanup();
  }
});

test('a config another local user could have written or could change is refused: check exits 78 naming owner and mode; a serving instance answers 400 error:config until it is fixed', async (t) => {
  const d = tempDir();
  try {
    const cfg = d.file('p.cf', POOL_321);
    chmodSync(cfg, 0o664);
    const open = spawnSync(process.execPath, [BIN, 'check', '-c', cfg], { encoding: 'utf8' });
    assert.equal(open.status, 78);
    assert.match(open.stderr, /p\.cf: owner and mode: expected a regular file owned by root.*writable by no one else \(another local user could send mail through any transport\), got a file owned by (\S+ \()?uid \d+\)?, mode 664/);
    const p = new Interactive(['-c', cfg, '-s', 'none', '--syslog', 'none']);
    assert.equal(await p.ask('get a@x'), '400 error:config');
    chmodSync(cfg, 0o644);
    await askUntil(p, 'get b@x', (r) => r === '200 smtp0:');
    assert.equal(await p.end(), 0);
    if (process.getuid?.() !== 0) {
      t.diagnostic('skipped the other-owner case: it needs root to chown');
      return;
    }
    chownSync(cfg, 12345, 12345);
    const theirs = spawnSync(process.execPath, [BIN, 'check', '-c', cfg], { encoding: 'utf8' });
    assert.equal(theirs.status, 78);
    assert.match(theirs.stderr, /owner and mode: .*got a file owned by uid 12345, mode 644/);
  } finally {
    d.cleanup();
  }
});

test('status: pool, position and picks per transport', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const state = join(t.dir, 's');
    await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], 'get a@x\nget b@x\nget c@x\nget a@x\n');
    const out = execFileSync(process.execPath, [BIN, 'status', '-c', cfg, '-s', state], { encoding: 'utf8' });
    assert.match(out, /position: +3 picks/);
    assert.match(out, /smtp0: +0 +3 +50\.0% +50\.0% +active +2 +66\.7% +1/);
  } finally {
    t.cleanup();
  }
});

test('usage errors exit 64; --help shows examples; --version prints the version', () => {
  const bad = spawnSync(process.execPath, [BIN, '--no-such-flag'], { encoding: 'utf8', input: '' });
  assert.equal(bad.status, 64);
  const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /transport_maps = socketmap:unix:private\/postbal:postbal/);
  // Every feature is in --help.
  for (const word of ['--algorithm', 'drain', 'undrain', 'reset-stats', 'status', 'priority=1', 'fallback =', 'match =', 'socketmap']) {
    assert.ok(help.stdout.includes(word), `--help mentions ${word}`);
  }
  const drainHelp = spawnSync(process.execPath, [BIN, 'drain', '--help'], { encoding: 'utf8' });
  assert.match(drainHelp.stdout, /take a transport out of rotation/);
  const version = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('status says what an instance would do with the state path: create it, or refuse it and serve from memory', () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const fresh = execFileSync(process.execPath, [BIN, 'status', '-c', cfg, '-s', join(t.dir, 'new.state')], { encoding: 'utf8' });
    assert.match(fresh, /none yet: the first lookup of a serving instance creates it/);
    const open = join(t.dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o1777);
    const refused = execFileSync(process.execPath, [BIN, 'status', '-c', cfg, '-s', join(open, 's')], { encoding: 'utf8' });
    assert.match(refused, /REFUSED by serving instances, which answer from memory .*writable by group or others \(mode 1777/);
  } finally {
    t.cleanup();
  }
});

test('every command and flag of --help is in the README and the man page; the man page renders', (ctx) => {
  const help = execFileSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const manSource = readFileSync(join(ROOT, 'docs/postbal.8'), 'utf8').replaceAll('\\-', '-');
  const commands = ['serve', 'check', 'status', 'drain', 'undrain', 'reset-stats', 'mark-up', 'clear-suspension', 'feedback', 'policy', 'warmup-stage', 'metrics', 'check-health', 'fleet'];
  const subHelp = commands.map((c) => execFileSync(process.execPath, [BIN, c, '--help'], { encoding: 'utf8' })).join('\n');
  const flags = [...new Set(`${help}\n${subHelp}`.match(/--[a-z][a-z-]+/g) ?? [])];
  for (const c of commands) assert.match(help, new RegExp(`\\n  ${c}\\b`), `--help lists ${c}`);
  assert.ok(flags.length >= 10, `only ${flags.length} flags found in --help`);
  for (const word of [...flags, ...commands]) {
    assert.ok(readme.includes(word), `README lacks ${word}`);
    assert.ok(manSource.includes(word), `postbal.8 lacks ${word}`);
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man: string[] };
  assert.deepEqual(pkg.man, ['./docs/postbal.8']);
  const man = spawnSync('man', ['-l', join(ROOT, 'docs/postbal.8')], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', MANPAGER: 'cat', COLUMNS: '100' } });
  if (man.error) {
    ctx.diagnostic('SKIPPED rendering: man(1) is not installed');
    return;
  }
  assert.equal(man.status, 0, man.stderr);
  for (const heading of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'CONFIGURATION', 'COMMANDS', 'OPTIONS', 'EXIT STATUS', 'FILES', 'SEE ALSO']) {
    assert.match(man.stdout, new RegExp(`^${heading}$`, 'm'), heading);
  }
});

test('one reader for every file that decides where mail goes: a 2 GiB pool or policy file is refused from its size, before a byte is read', () => {
  const t = tempDir();
  try {
    for (const [flag, name] of [['-c', 'pool.cf'], ['--policy', 'policy.cf']] as const) {
      const file = t.file(name, '');
      chmodSync(file, 0o644);
      truncateSync(file, 2 ** 31);
      const args = flag === '-c' ? ['check', '-c', file] : ['check', '--policy', file];
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 78, `${name}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${name}: file: expected at most 1048576 bytes, got 2147483648 bytes`));
    }
  } finally {
    t.cleanup();
  }
});
