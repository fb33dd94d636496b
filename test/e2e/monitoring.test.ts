/**
 * Monitoring end to end: a real Postfix delivers through postbal to three
 * smtp-sinks (one per transport), `postbal metrics --listen` serves the
 * state, and a real Prometheus (Debian's package, private) scrapes it every
 * second; smtp1 is drained for the middle third of the run. The picks read
 * back through Prometheus' HTTP API must account for what each sink received
 * (at least as many; more only by the picks that routed nothing), and
 * Prometheus must have recorded the drain; every query of the Grafana dashboard must return data;
 * `check-health` must agree. With MONITORING_PICTURE=FILE the shares over the
 * run are drawn to FILE (the README's picture).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, packageUnavailable, postfixUnavailable, PostfixLab } from './lab.js';
import { PrivatePrometheus, type Series } from '../helpers/prometheus.js';
import { ROOT, runPostbal } from '../helpers/postbal.js';
import { request, service } from '../helpers/policy-service.js';
import { lineChart } from '../helpers/svg-chart.js';

const MESSAGES = 3000;
const WEIGHTS = [3, 2, 1];
const NOBODY = 65534;

/** smtp-sink writing each message to a file under `dir` (counted afterwards). */
function sink(port: number, dir: string): ChildProcess {
  mkdirSync(dir);
  chownSync(dir, NOBODY, NOBODY);
  return spawn('smtp-sink', ['-u', 'nobody', '-d', `${dir}/%H/`, `127.0.0.1:${port}`, '1000'], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
}

function received(dir: string): number {
  let n = 0;
  for (const sub of readdirSync(dir)) n += statSync(join(dir, sub)).isDirectory() ? readdirSync(join(dir, sub)).length : 1;
  return n;
}

/** The queries of examples/grafana/postbal.json, with Grafana's variables as Grafana would fill them. */
function dashboardQueries(): { panel: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(join(ROOT, 'examples/grafana/postbal.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  return dash.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr.replaceAll('$__rate_interval', '30s').replaceAll('$transport', '.*') })));
}

test('a real Prometheus scrapes postbal metrics during a real Postfix run: picks read back account for what each smtp-sink received; every dashboard query returns data', { timeout: 900_000 }, async (t) => {
  if (postfixUnavailable(t) || packageUnavailable(t, 'prometheus', '/usr/bin/prometheus')) return;
  const work = mkdtempSync('/tmp/postbal-monitoring-');
  // The sinks run as nobody and write below it.
  chmodSync(work, 0o755);
  const ports = await Promise.all(WEIGHTS.map(() => freePort()));
  const sinks = ports.map((p, i) => sink(p, join(work, `sink${i}`)));
  // smtp2 warms with a cap it never reaches (the warm-up panels have data); relay is a backup tier.
  const pool = `{3}smtp0:[127.0.0.1]:${ports[0]!}\n{2}smtp1:[127.0.0.1]:${ports[1]!}\n{1}smtp2:[127.0.0.1]:${ports[2]!} warmup=100000\n{1}relay:[127.0.0.1]:${ports[0]!} priority=1\n`;
  const lab = await PostfixLab.start({ mapLines: ['transport_maps = PBMAP'], pool });
  let metrics: ChildProcess | undefined;
  let prometheus: PrivatePrometheus | undefined;
  const policyOk = await service(() => 'action=DUNNO\n\n');
  try {
    // A policy board beside it, so the policy panel has data: five requests through `postbal policy`.
    const board = join(lab.dir, 'state', 'policy.state');
    const asked = await runPostbal(['policy', '-s', `ok=127.0.0.1:${policyOk.port}`, '--state', board, '--syslog', 'none'], Array.from({ length: 5 }, (_, i) => request(`p${i}@x.example`)).join(''));
    assert.equal(asked.code, 0, asked.stderr);
    chownSync(board, NOBODY, NOBODY);
    metrics = spawn(process.execPath, [join(ROOT, 'bin/postbal'), '-c', join(lab.etc, 'postbal.cf'), '-s', lab.statePath, '--log-stderr', 'metrics', '--listen', '127.0.0.1:0', '--policy-state', board], { stdio: ['ignore', 'ignore', 'pipe'] });
    let metricsLog = '';
    const port = await new Promise<number>((ok, fail) => {
      let err = '';
      metrics!.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        metricsLog = err.slice(-4000);
        const m = /serving http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(err);
        if (m) ok(Number(m[1]));
      });
      metrics!.once('exit', () => fail(new Error(`postbal metrics exited: ${err}`)));
    });
    prometheus = await PrivatePrometheus.start([`127.0.0.1:${port}`]);
    const startSec = Date.now() / 1000;
    lab.inject(MESSAGES);
    // smtp1 drained for the middle third of the run: its share goes to the others, and the state panel says why.
    await lab.waitDelivered(MESSAGES / 3);
    assert.equal(lab.control(['drain', 'smtp1:[127.0.0.1]:' + String(ports[1]!)]).code, 0);
    const drainedAt = Date.now() / 1000;
    await lab.waitDelivered((2 * MESSAGES) / 3);
    assert.equal(lab.control(['undrain', 'smtp1:[127.0.0.1]:' + String(ports[1]!)]).code, 0);
    const d = await lab.waitDelivered(MESSAGES);
    assert.equal(d.sentTotal, MESSAGES, `delivered ${d.sentTotal}, bounced ${d.bounced}, deferred ${d.deferred}`);
    const got = sinks.map((_, i) => received(join(work, `sink${i}`)));
    // Every sink has its messages on disk once Postfix logged them sent; wait for them all the same (a guard, not a clock).
    for (let i = 0; i < 600 && got.reduce((a, b) => a + b, 0) < MESSAGES; i++) {
      await sleep(100);
      got.splice(0, 3, ...sinks.map((_, k) => received(join(work, `sink${k}`))));
    }
    assert.equal(got.reduce((a, b) => a + b, 0), MESSAGES, `the sinks received ${got.join(', ')}`);
    // Wait until Prometheus has scraped the state as it is after the run (what the endpoint serves now).
    let lastScrape = '';
    const servedNow = async (): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      const text = await res.text();
      lastScrape = `HTTP ${res.status}; ${text.split('\n').filter((l) => /^postbal_(state_readable|state_picks_total|transport_picks_total|config_valid)/.test(l)).join('; ')}`;
      return text.split('\n').filter((l) => l.startsWith('postbal_transport_picks_total{') && l.includes('priority="0"')).reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
    };
    // Until a scrape shows the run's picks (one fresh-clone run read none once: a scrape that
    // found the state unreadable for a moment); the loop's bound is a guard against a hang.
    let served = await servedNow();
    for (let i = 0; i < 1200 && served < MESSAGES; i++) {
      await sleep(100);
      served = await servedNow();
    }
    assert.ok(served >= MESSAGES, `${served} new picks for ${MESSAGES} recipients (a few more when Postfix asks again after the memo's window); the last scrape: ${lastScrape}; metrics' log: ${metricsLog}; status: ${lab.control(['status']).stdout}`);
    let picks: Series[] = [];
    for (let i = 0; i < 1200; i++) {
      picks = await prometheus.query('postbal_transport_picks_total{priority="0"}');
      if (picks.reduce((s, x) => s + Number(x.value![1]), 0) === served) break;
      await sleep(100);
    }
    const total = picks.reduce((s, x) => s + Number(x.value![1]), 0);
    assert.equal(total, served, 'Prometheus has what postbal serves');
    // Every message went out on its key's last pick, so each transport's picks in Prometheus are at
    // least what its sink received, and the picks that routed nothing (a key picked again after
    // the drain made its remembered answer stale) are all the difference: exactly, not within a
    // tolerance.
    const lines: string[] = [];
    const unused = total - MESSAGES;
    for (const i of WEIGHTS.keys()) {
      const name = `smtp${i}:[127.0.0.1]:${ports[i]!}`;
      const fromPrometheus = Number(picks.find((x) => x.metric.transport === name)?.value?.[1] ?? NaN);
      lines.push(`${name}: Prometheus ${fromPrometheus} picks (${(100 * fromPrometheus / total).toFixed(2)}%), sink ${got[i]!} (${(100 * got[i]! / MESSAGES).toFixed(2)}%)`);
      assert.ok(fromPrometheus >= got[i]! && fromPrometheus - got[i]! <= unused, `${lines.at(-1)!}; ${unused} picks routed nothing`);
    }
    t.diagnostic(lines.join('; '));
    assert.ok(got[1]! / MESSAGES < (2 / 6) * 0.9, `the drain shows in what smtp1 received: ${lines[1]!}`);
    const wasDrained = await prometheus.queryRange(`postbal_transport_state{state="drained",transport="smtp1:[127.0.0.1]:${ports[1]!}"}`, drainedAt, Date.now() / 1000, 1);
    assert.ok(wasDrained[0]?.values?.some(([, v]) => v === '1'), 'Prometheus recorded smtp1 as drained');
    const empty: string[] = [];
    for (const q of dashboardQueries()) if ((await prometheus.query(q.expr)).length === 0) empty.push(`${q.panel}: ${q.expr}`);
    assert.deepEqual(empty, [], 'every dashboard query returns data');
    const health = await runPostbal(['-c', join(lab.etc, 'postbal.cf'), '-s', lab.statePath, '--syslog', 'none', 'check-health'], '');
    assert.equal(health.code, 0, health.stdout);
    if (process.env.MONITORING_PICTURE) await drawShares(prometheus, startSec, process.env.MONITORING_PICTURE, ports);
  } finally {
    metrics?.kill('SIGTERM');
    prometheus?.stop();
    await policyOk.close();
    lab.stop();
    for (const s of sinks) s.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
});

/** The README's picture: each transport's share of new picks over the run, against its target, as Prometheus recorded them. */
async function drawShares(p: PrivatePrometheus, startSec: number, file: string, ports: number[]): Promise<void> {
  const end = Date.now() / 1000;
  const actual = await p.queryRange('sum by (transport) (rate(postbal_transport_picks_total{priority="0"}[3s])) / ignoring (transport) group_left sum(rate(postbal_transport_picks_total{priority="0"}[3s]))', startSec, end, 1);
  const target = await p.queryRange('postbal_transport_target_share_ratio{priority="0"}', startSec, end, 1);
  const short = (name: string): string => name.replace(/\[127\.0\.0\.1\]:\d+/, '');
  const lines = WEIGHTS.flatMap((_, i) => {
    const name = `smtp${i}:[127.0.0.1]:${ports[i]!}`;
    const pts = (s: Series[]): [number, number][] => (s.find((x) => x.metric.transport === name)?.values ?? []).map(([x, y]) => [x - startSec, Number(y)] as [number, number]).filter(([, y]) => Number.isFinite(y));
    return [{ label: `${short(name)} actual`, points: pts(actual), colour: i }, { label: `${short(name)} target`, points: pts(target), colour: i, dashed: true }];
  });
  writeFileSync(file, lineChart('Share of new picks (Prometheus, 3 s rate); smtp1 drained mid-run', lines, 0.8, (y) => `${Math.round(100 * y)}%`));
}
