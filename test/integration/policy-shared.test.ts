/**
 * What `postbal policy` instances share through their state file: the
 * round-robin sequence, the circuit breaker (a hung service costs one timeout
 * for all of them, and one trial brings it back), the counters that
 * `postbal status --policy` shows; services from a config file that
 * `postbal check --policy` validates; a state file that must not be
 * trusted is refused and the instance still answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { closedPort, request, service } from '../helpers/policy-service.js';
import { BIN, ROOT, runPostbal } from '../helpers/postbal.js';
import { datagramSink, sinkReady } from '../helpers/syslog-sink.js';
import { existsSync, readFileSync } from 'node:fs';

/** A private state directory and a syslog socket whose lines land in a file (instances are spawned: stderr is not for logs). */
async function stateDir(): Promise<{ dir: string; state: string; syslog: string; logs: () => Promise<string>; done: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'postbal-policy-'));
  chmodSync(dir, 0o700);
  const sock = join(dir, 'log.sock');
  const file = join(dir, 'log.txt');
  const sink = datagramSink(sock, true, file);
  await sinkReady(sink);
  return {
    dir,
    state: join(dir, 'policy.state'),
    syslog: `unix:${sock}`,
    logs: async () => {
      await sleep(300);
      return existsSync(file) ? readFileSync(file, 'utf8') : '';
    },
    done: () => {
      sink.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const count = (out: string, action: string): number => out.split(`action=${action}\n`).length - 1;
const cli = (...a: string[]) => spawnSync(process.execPath, [BIN, ...a], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

test('policy state: instances share one round-robin sequence, one after another and at once (3:1 exact over all of them)', async () => {
  const a = await service(() => 'action=a\n\n');
  const b = await service(() => 'action=b\n\n');
  const s = await stateDir();
  try {
    const args = ['policy', '-s', `a=127.0.0.1:${a.port}:0:3`, '-s', `b=127.0.0.1:${b.port}:0:1`, '--syslog', 'none', '--state', s.state];
    let seq = '';
    // Alone, each of these would answer "a" (the first pick of a fresh sequence).
    for (let k = 0; k < 8; k++) seq += (await runPostbal(args, request('x@y'))).stdout;
    assert.deepEqual([count(seq, 'a'), count(seq, 'b')], [6, 2], seq);
    const together = await Promise.all([0, 1, 2, 3].map(() => runPostbal(args, request('x@y').repeat(5))));
    const all = together.map((r) => r.stdout).join('');
    // Alone, each would answer a a a b a: 16 and 4.
    assert.deepEqual([count(all, 'a'), count(all, 'b')], [15, 5]);
    assert.ok(together.every((r) => r.code === 0 && r.stderr === ''));
    const st = cli('status', '--policy', '--state', s.state, '--json');
    assert.equal(st.status, 0, st.stderr);
    const report = JSON.parse(st.stdout) as { services: { service: string; answered: number; share: number; health: string; failures: number; averageLatencyMs: number }[] };
    assert.deepEqual(report.services.map((x) => [x.service, x.answered, x.health, x.failures]), [[`a=127.0.0.1:${a.port}`, 21, 'up', 0], [`b=127.0.0.1:${b.port}`, 7, 'up', 0]]);
    assert.equal(report.services[0]!.share, 0.75);
    assert.ok(report.services[0]!.averageLatencyMs > 0);
    const text = cli('status', '--policy', '--state', s.state);
    assert.match(text.stdout, /a=127\.0\.0\.1:\d+\s+0\s+3\s+21\s+75\.0%\s+0\s+[\d.]+ms\s+up/);
  } finally {
    await Promise.all([a.close(), b.close()]);
    s.done();
  }
});

test('policy state: a hung service costs three timeouts (three requests in a row) for every instance together; after the breaker, one trial brings it back', async () => {
  const hung = await service(() => 'action=was-hung\n\n', true);
  const good = await service(() => 'action=good\n\n');
  const s = await stateDir();
  try {
    const args = ['policy', '-s', `hung=127.0.0.1:${hung.port}:0:1:1`, '-s', `good=127.0.0.1:${good.port}:1`, '--breaker', '5', '--syslog', s.syslog, '--state', s.state];
    const runs = [];
    for (let k = 0; k < 4; k++) runs.push(await runPostbal(args, request('x@y').repeat(10)));
    assert.ok(runs.every((r) => r.stdout === 'action=good\n\n'.repeat(10)));
    // One timeout may be about one request (a crafted sender): three distinct requests in a row trip it.
    assert.equal(hung.connections(), 3, 'the first instance tried the hung service for 3 requests (each on a fresh connection); the others skipped it');
    assert.ok(runs.every((r) => r.stderr === ''));
    assert.equal((await s.logs()).split('failed: no reply within 1000 ms (3 requests in a row); every instance skips it').length - 1, 1, 'the trip is logged once, by the instance that saw it');
    const down = JSON.parse(cli('status', '--policy', '--state', s.state, '--json').stdout) as { services: { health: string; lastFailure: string; failuresInARow: number }[] };
    assert.match(down.services[0]!.health, /^skipped until /);
    assert.equal(down.services[0]!.lastFailure, 'timeout');
    hung.setHang(false);
    await sleep(5200);
    // Three at once: one claims the trial; the others skip the service while that trial runs
    // (and answer from the good one) or find it back already.
    const back = await Promise.all([0, 1, 2].map(() => runPostbal(args, request('x@y'))));
    const replies = back.map((r) => r.stdout).join('');
    assert.ok(count(replies, 'was-hung') >= 1 && count(replies, 'was-hung') + count(replies, 'good') === 3, replies);
    assert.equal((await s.logs()).split('answers again').length - 1, 1, 'coming back is logged once');
    assert.equal((await runPostbal(args, request('x@y'))).stdout, 'action=was-hung\n\n', 'back for every instance');
    const up = JSON.parse(cli('status', '--policy', '--state', s.state, '--json').stdout) as { services: { health: string }[] };
    assert.equal(up.services[0]!.health, 'up');
  } finally {
    await Promise.all([hung.close(), good.close()]);
    s.done();
  }
});

test('policy config file: services, default and breaker from -c; check --policy validates it and names file, line, field, expected, received', async () => {
  const one = await service(() => 'action=from-file\n\n');
  const s = await stateDir();
  try {
    const dead = await closedPort();
    const file = join(s.dir, 'policy.cf');
    writeFileSync(file, `# policy services\nservice = dead=127.0.0.1:${dead}:1\nservice = one=127.0.0.1:${one.port}:2:1:5\ndefault = defer_if_permit Service unavailable\nbreaker = 30\n`);
    const r = await runPostbal(['policy', '-c', file, '--syslog', 'none', '--state', 'none'], request('x@y').repeat(2));
    assert.equal(r.stdout, 'action=from-file\n\n'.repeat(2));
    const ok = cli('check', '--policy', file);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /OK, 2 services in 2 priorities; default action defer_if_permit Service unavailable; breaker 30s/);
    assert.match(ok.stdout, new RegExp(`prio\\s+2\\s+one=127\\.0\\.0\\.1:${one.port}\\s+weight 1 \\(100\\.0%\\)\\s+timeout 5s`));
    const gone = await runPostbal(['policy', '-c', file, '-s', `x=127.0.0.1:${dead}`, '--syslog', 'none', '--state', 'none'], request('x@y'));
    assert.equal(gone.stdout, 'action=from-file\n\n', '-s adds to the file\'s services');
    writeFileSync(file, 'service = one=127.0.0.1:70000\ndefault = \u0001\nbreaker = soon\ncolour = blue\nservice = a=h:1\nservice = a=h:2\n');
    const bad = cli('check', '--policy', file);
    assert.equal(bad.status, 78);
    assert.match(bad.stderr, new RegExp(`${file}:1: service: expected NAME=ADDRESS:PORT\\[:PRIO\\[:WEIGHT\\[:TIMEOUT\\]\\]\\] .*got "one=127\\.0\\.0\\.1:70000"`));
    assert.match(bad.stderr, new RegExp(`${file}:2: default: expected a policy action`));
    assert.match(bad.stderr, new RegExp(`${file}:3: breaker: expected whole seconds from 1 to 9999, got "soon"`));
    assert.match(bad.stderr, new RegExp(`${file}:4: colour: expected one of service, default, breaker, got "colour"`));
    assert.match(bad.stderr, /service: expected each NAME once, got "a" twice/);
    const serve = cli('policy', '-c', file, '--syslog', 'none');
    assert.equal(serve.status, 78, 'a bad file: exit 78, nothing served');
    writeFileSync(file, `service = one=127.0.0.1:${one.port}\n`);
    chmodSync(file, 0o666);
    const open = cli('check', '--policy', file);
    assert.equal(open.status, 78, 'a file anyone can write is refused');
    assert.match(open.stderr, /owner and mode: expected a regular file owned by root.*writable by no one else .*got a file owned by (\S+ \()?uid \d+\)?, mode 666/);
    chmodSync(file, 0o644);
    assert.equal(cli('check', '--policy', file).status, 0);
    assert.equal(cli('check', '--policy', join(s.dir, 'missing.cf')).status, 78);
  } finally {
    await one.close();
    s.done();
  }
});

test('policy state: a file others can write, or the balancer\'s state file, is refused with one warning; requests are still answered', async () => {
  const one = await service(() => 'action=ok\n\n');
  const s = await stateDir();
  try {
    const args = (state: string) => ['policy', '-s', `one=127.0.0.1:${one.port}`, '--syslog', s.syslog, '--state', state];
    const first = await runPostbal(args(s.state), request('x@y'));
    assert.equal(first.stdout, 'action=ok\n\n');
    chmodSync(s.state, 0o666);
    const open = await runPostbal(args(s.state), request('x@y').repeat(3));
    assert.equal(open.stdout, 'action=ok\n\n'.repeat(3));
    assert.equal(open.stderr, '');
    const warned = (await s.logs()).split('\n').filter((l) => l.includes('keeps its breakers and round robin to itself'));
    assert.equal(warned.length, 1, 'one warning');
    assert.match(warned[0]!, /writable by group or others/);
    const st = cli('status', '--policy', '--state', s.state);
    assert.equal(st.status, 77, 'status refuses to read it too');
    const balancer = join(s.dir, 'postbal.state');
    writeFileSync(balancer, Buffer.concat([Buffer.from('PBS1'), Buffer.alloc(8188)]), { mode: 0o600 });
    const wrong = await runPostbal(args(balancer), request('x@y'));
    assert.equal(wrong.stdout, 'action=ok\n\n');
    assert.match(await s.logs(), /is not a postbal policy state file/);
    const proc = await runPostbal(args('/proc/self/policy.state'), request('x@y'));
    assert.equal(proc.stdout, 'action=ok\n\n', 'a path under /proc never hangs a request');
  } finally {
    await one.close();
    s.done();
  }
});

test('examples/postbal-policy.cf passes check --policy and serves: its services by priority, its default action when none answers', async () => {
  const file = join(ROOT, 'examples/postbal-policy.cf');
  const ok = cli('check', '--policy', file);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /OK, 3 services in 2 priorities; default action defer_if_permit Policy service unavailable, try again later; breaker 10s/);
  assert.match(ok.stdout, /prio\s+5\s+fwd-a=127\.0\.0\.1:10040\s+weight 2 \(66\.7%\)\s+timeout 10s/);
  // The example's placeholder ports moved to ones where nothing listens (Debian's postgrey and
  // postfwd default to 10023 and 10040): every service refuses, the default action answers.
  const s = await stateDir();
  try {
    const dead = await closedPort();
    const copy = join(s.dir, 'postbal-policy.cf');
    writeFileSync(copy, readFileSync(file, 'utf8').replace(/:100(23|40|41):/g, `:${dead}:`));
    const r = await runPostbal(['policy', '-c', copy, '--syslog', 'none', '--state', 'none'], request('x@y'));
    assert.equal(r.stdout, 'action=defer_if_permit Policy service unavailable, try again later\n\n');
  } finally {
    s.done();
  }
});
