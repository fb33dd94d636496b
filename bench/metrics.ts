/**
 * What one Prometheus scrape of `postbal metrics` costs, for a pool of 16
 * transports with 64 suspensions in force (issue 20's goal: at most 5 ms),
 * beside what a user runs today to see the same: `postbal status --json` as a
 * process. Rounds alternate; medians.
 */
import { spawn, spawnSync } from 'node:child_process';
import { Agent, get } from 'node:http';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, median, percentile } from './common.js';
import { parseConfig } from '../src/config/parse.js';
import { FileStateStore } from '../src/state/file-store.js';
import { hashLo } from '../src/keys/hash.js';
import { scrape } from '../src/commands/metrics.js';
import { statusReport } from '../src/commands/status.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const PER_ROUND = Number(process.env.BENCH_SCRAPES ?? 50);
const TRANSPORTS = 16;
const SUSPENSIONS = 64;

/** One keep-alive connection, as Prometheus scrapes: the time is the listener's, not a client's set-up. */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function scrapeOverHttp(port: number): Promise<number> {
  return new Promise((ok, fail) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => { n += d.length; });
      res.on('end', () => ok(n));
    }).on('error', fail);
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync('/tmp/postbal-bench-metrics-');
  chmodSync(dir, 0o700);
  const cf = join(dir, 'postbal.cf');
  writeFileSync(cf, Array.from({ length: TRANSPORTS }, (_, i) => `{${1 + (i % 4)}}smtp${i}:[192.0.2.${i + 1}]:25${i >= 12 ? ' priority=1' : ''}${i === 3 ? ' warmup=200,500,1000' : ''}`).join('\n') + '\n', { mode: 0o644 });
  const state = join(dir, 'postbal.state');
  const { pool } = parseConfig(Array.from({ length: TRANSPORTS }, (_, i) => `{${1 + (i % 4)}}smtp${i}:[192.0.2.${i + 1}]:25${i >= 12 ? ' priority=1' : ''}${i === 3 ? ' warmup=200,500,1000' : ''}`).join('\n'), cf);
  const store = new FileStateStore({ path: state, memoSlots: 4096, memoTtlSec: 60, warn: () => undefined });
  const now = Date.now();
  store.transact(pool, (_s, trouble) => trouble.replace({
    health: [],
    suspensions: Array.from({ length: SUSPENSIONS }, (_, k) => ({
      id: hashLo(pool.memberHashes[k % TRANSPORTS]!), destination: `provider${k}.example`, untilMs: now + 3_600_000,
      reason: `451 4.7.1 throttled (in reply to RCPT TO command) #${k}`,
    })),
  }));
  store.close();
  spawnSync(process.execPath, [BIN, '-c', cf, '-s', state, '--syslog', 'none'], { input: Array.from({ length: 2000 }, (_, i) => `get u${i}@d${i % 50}.example\n`).join('') });
  const o = { configFile: cf, statePath: state, policyState: undefined, version: 'bench', logger: { log: () => undefined, close: () => undefined } };
  const lines = (await scrape(o).metrics()).split('\n').filter((l) => l && !l.startsWith('#')).length;

  const listener = spawn(process.execPath, [BIN, '-c', cf, '-s', state, '--log-stderr', 'metrics', '--listen', '127.0.0.1:0', '--policy-state', 'none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((ok) => {
    let err = '';
    listener.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) ok(Number(m[1]));
    });
  });
  const http: number[] = [];
  const inProcess: number[] = [];
  const statusOnly: number[] = [];
  const statusProcess: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < PER_ROUND; k++) {
      let t0 = performance.now();
      await scrapeOverHttp(port);
      http.push(performance.now() - t0);
      t0 = performance.now();
      await scrape(o).metrics();
      inProcess.push(performance.now() - t0);
      t0 = performance.now();
      statusReport(cf, state, () => undefined);
      statusOnly.push(performance.now() - t0);
    }
    const t0 = performance.now();
    spawnSync(process.execPath, [BIN, '-c', cf, '-s', state, '--syslog', 'none', 'status', '--json']);
    statusProcess.push(performance.now() - t0);
  }
  listener.kill('SIGTERM');
  agent.destroy();
  if (process.env.BENCH_KEEP) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  const f = (xs: number[]): string => `median ${median(xs).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms`;
  console.log(`bench:metrics: ${TRANSPORTS} transports, ${SUSPENSIONS} suspensions, ${lines} samples per scrape; ${ROUNDS} rounds x ${PER_ROUND} scrapes, alternated`);
  console.log(`  GET /metrics from postbal metrics --listen (goal <= 5 ms): ${f(http)}`);
  console.log(`  the same scrape in-process (read state, build, format):   ${f(inProcess)}`);
  console.log(`  its status facts alone (what postbal status reads):         ${f(statusOnly)}`);
  console.log(`  baseline: postbal status --json as a process, today's way:  ${f(statusProcess)}`);
}

await main();
