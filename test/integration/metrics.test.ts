/**
 * `postbal metrics` and `postbal check-health` run as users run them: lookups
 * through the built binary, then the metrics printed, served on a port and
 * written for node_exporter, checked with promtool (installed from Debian
 * when root; otherwise that check is SKIPPED loudly, a failure under CI),
 * and the counters compared with what the lookups got.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { BIN, countReplies, keys, runPostbal } from '../helpers/postbal.js';
import { packageUnavailable } from '../e2e/lab.js';
import { request, service } from '../helpers/policy-service.js';

const POOL = '{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n{1}backup: priority=1\n';

function setup(): { dir: string; cf: string; state: string; args: string[]; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'postbal-metrics-'));
  chmodSync(dir, 0o700);
  const cf = join(dir, 'postbal.cf');
  writeFileSync(cf, POOL, { mode: 0o644 });
  const state = join(dir, 'postbal.state');
  return { dir, cf, state, args: ['-c', cf, '-s', state, '--syslog', 'none'], done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** value of one sample line, e.g. sample(text, 'postbal_lookups_total{answer="new",reason="pick"}') */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function promtoolCheck(text: string): { code: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('metrics: counters match the lookups that were answered; promtool check metrics passes', async (t) => {
  const s = setup();
  try {
    const lookups = `${keys('m', 600)}${keys('m', 10)}get *\nbogus\n`;
    const r = await runPostbal(s.args, lookups);
    assert.equal(r.code, 0);
    const replies = countReplies(r.stdout);
    const m = await runPostbal([...s.args, 'metrics', '--policy-state', 'none'], '');
    assert.equal(m.code, 0, m.stderr);
    assert.equal(m.stderr, '');
    const text = m.stdout;
    assert.equal(sample(text, 'postbal_lookups_total{answer="new",reason="pick"}'), 600);
    assert.equal(sample(text, 'postbal_lookups_total{answer="repeat",reason="memo"}'), 10);
    assert.equal(sample(text, 'postbal_lookups_total{answer="not_found",reason="wildcard"}'), 1);
    assert.equal(sample(text, 'postbal_lookups_total{answer="tempfail",reason="invalid_request"}'), 1);
    for (const [name, w] of [['smtp0:', 3], ['smtp1:', 2], ['smtp2:', 1]] as const) {
      assert.equal(sample(text, `postbal_transport_picks_total{transport="${name}",priority="0"}`), (600 * w) / 6, name);
      assert.equal(sample(text, `postbal_transport_target_share_ratio{transport="${name}",priority="0"}`), w / 6);
      assert.equal(sample(text, `postbal_transport_state{transport="${name}",priority="0",state="active"}`), 1);
    }
    assert.equal(sample(text, 'postbal_transport_state{transport="backup:",priority="1",state="standby"}'), 1);
    assert.equal([...replies.values()].reduce((a, b) => a + b, 0), 612);
    const count = sample(text, 'postbal_lock_wait_seconds_count')!;
    assert.ok(count >= 1, `lock waits counted: ${count}`);
    assert.equal(sample(text, 'postbal_lock_wait_seconds_bucket{le="+Inf"}'), count, 'the +Inf bucket holds every wait');
    assert.equal(sample(text, 'postbal_config_valid'), 1);
    assert.match(text, /^postbal_build_info\{version="\d+\.\d+\.\d+"\} 1$/m);
    if (packageUnavailable(t, 'prometheus', '/usr/bin/promtool')) return;
    const lint = promtoolCheck(text);
    assert.equal(lint.code, 0, lint.out);
    assert.equal(lint.out.trim(), '', 'no lint remark');
  } finally {
    s.done();
  }
});

test('metrics: a drain shows in the state, the drained flag and the effective shares', async () => {
  const s = setup();
  try {
    await runPostbal(s.args, keys('d', 6));
    assert.equal((await runPostbal([...s.args, 'drain', 'smtp1:'], '')).code, 0);
    const text = (await runPostbal([...s.args, 'metrics', '--policy-state', 'none'], '')).stdout;
    assert.equal(sample(text, 'postbal_transport_drained{transport="smtp1:",priority="0"}'), 1);
    assert.equal(sample(text, 'postbal_transport_state{transport="smtp1:",priority="0",state="drained"}'), 1);
    assert.equal(sample(text, 'postbal_transport_effective_share_ratio{transport="smtp1:",priority="0"}'), 0);
    assert.equal(sample(text, 'postbal_transport_effective_share_ratio{transport="smtp0:",priority="0"}'), 0.75);
  } finally {
    s.done();
  }
});

test('metrics --textfile: DIR/postbal.prom written atomically, mode 0644, nothing else left; an unwritable DIR exits 73', async () => {
  const s = setup();
  try {
    await runPostbal(s.args, keys('t', 6));
    const out = join(s.dir, 'textfile');
    spawnSync('mkdir', [out]);
    const r = await runPostbal([...s.args, 'metrics', '--textfile', out, '--policy-state', 'none'], '');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.deepEqual(readdirSync(out), ['postbal.prom']);
    assert.equal(statSync(join(out, 'postbal.prom')).mode & 0o777, 0o644);
    assert.equal(sample(readFileSync(join(out, 'postbal.prom'), 'utf8'), 'postbal_lookups_total{answer="new",reason="pick"}'), 6);
    const bad = await runPostbal([...s.args, 'metrics', '--textfile', join(s.dir, 'missing'), '--policy-state', 'none'], '');
    assert.equal(bad.code, 73);
    assert.match(bad.stderr, /cannot write .*missing\/postbal\.prom: ENOENT/);
  } finally {
    s.done();
  }
});

test('metrics --listen: GET /metrics serves the text format; other paths 404, other methods 405; SIGTERM stops it; a bad address is a usage error', async () => {
  const s = setup();
  try {
    await runPostbal(s.args, keys('l', 12));
    const child = spawn(process.execPath, [BIN, '-c', s.cf, '-s', s.state, '--log-stderr', 'metrics', '--listen', '127.0.0.1:0', '--policy-state', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const port = await new Promise<number>((ok, fail) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /serving http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(err);
        if (m) ok(Number(m[1]));
      });
      child.once('exit', () => fail(new Error(`metrics exited: ${err}`)));
    });
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(sample(text, 'postbal_lookups_total{answer="new",reason="pick"}'), 12);
    assert.equal((await fetch(`http://127.0.0.1:${port}/admin`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x' })).status, 405);
    // A scrape sees the state as it is now, not as it was at start.
    await runPostbal(s.args, keys('l2', 6));
    assert.equal(sample(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), 'postbal_lookups_total{answer="new",reason="pick"}'), 18);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    // From a terminal or a script (stdin not a socket, so the reason goes to stderr, not to syslog).
    const bad = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" -c "${s.cf}" -s none metrics --listen localhost < /dev/null`], { encoding: 'utf8' });
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /expected HOST:PORT .* got "localhost"/);
  } finally {
    s.done();
  }
});

test('metrics: the policy board\'s requests, answers and failovers, per service', async () => {
  const s = setup();
  const good = await service(() => 'action=DUNNO\n\n');
  const dead = await service(() => '', true);
  try {
    const board = join(s.dir, 'policy.state');
    const reqs = Array.from({ length: 5 }, (_, i) => request(`r${i}@x.example`)).join('');
    const p = await runPostbal(['policy', '-s', `dead=127.0.0.1:${dead.port}:0:1:1`, '-s', `good=127.0.0.1:${good.port}:1`, '--state', board, '--syslog', 'none'], reqs);
    assert.equal(p.code, 0, p.stderr);
    const text = (await runPostbal([...s.args, 'metrics', '--policy-state', board], '')).stdout;
    assert.equal(sample(text, 'postbal_policy_requests_total'), 5);
    assert.equal(sample(text, 'postbal_policy_answers_total{service="good=127.0.0.1:' + good.port + '",priority="1"}'), 5);
    assert.ok(sample(text, 'postbal_policy_failovers_total')! >= 1, 'the dead service\'s request went on to the next');
    assert.equal(sample(text, 'postbal_policy_default_answers_total'), 0);
    assert.equal(sample(text, `postbal_policy_breaker_open{service="dead=127.0.0.1:${dead.port}",priority="0"}`), 1);
  } finally {
    await good.close();
    await dead.close();
    s.done();
  }
});

test('check-health: exit 0, 1, 2 as the pool changes; a usage error is UNKNOWN (3)', async () => {
  const s = setup();
  try {
    await runPostbal(s.args, keys('h', 6));
    const ok = await runPostbal([...s.args, 'check-health'], '');
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^POSTBAL OK - 3 of 4 transports take new mail at priority 0 \| /);
    await runPostbal([...s.args, 'drain', 'backup:'], '');
    const warn = await runPostbal([...s.args, 'check-health'], '');
    assert.equal(warn.code, 1, warn.stdout);
    assert.match(warn.stdout, /^POSTBAL WARNING - priority 1 tier has no usable transport \(backup: drained\)/);
    await runPostbal([...s.args, 'undrain', 'backup:'], '');
    for (const x of ['smtp0:', 'smtp1:', 'smtp2:']) await runPostbal([...s.args, 'drain', x], '');
    const crit = await runPostbal([...s.args, 'check-health'], '');
    assert.equal(crit.code, 2, crit.stdout);
    assert.match(crit.stdout, /^POSTBAL CRITICAL - priority 0 tier has no usable transport .*; new mail goes to priority 1/);
    const usage = await runPostbal([...s.args, 'check-health', '--warning-share', '150'], '');
    assert.equal(usage.code, 3);
  } finally {
    s.done();
  }
});
