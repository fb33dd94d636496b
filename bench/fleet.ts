/**
 * npm run bench:fleet: what a fleet costs a host's lookups, measured beside
 * the same host without a fleet in the same run (alternated rounds,
 * medians): lookups/s of 4 concurrent spawned instances (state file on),
 * with and without a capped or rated transport; then one-at-a-time lookup
 * latency (p50, p99) before, during and after Redis outages (SIGSTOP,
 * SIGKILL, down), with a capped transport leased by `postbal fleet`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BIN, keyLines, median, percentile, runPipe } from './common.js';
import { Interactive } from '../test/helpers/postbal.js';
import { watchText } from '../test/helpers/daemon.js';
import { ensureRedis, startRedis } from '../test/helpers/redis.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KEYS = 20_000;
const missing = ensureRedis();
if (missing) {
  process.stderr.write(`bench:fleet SKIPPED: ${missing}\n`);
  process.exit(1);
}
const redis = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'postbal-bench-fleet-'));
const base = '{3}smtp0:\n{2}smtp1:\n{1}smtp2:';
const fleet = `fleet = redis://127.0.0.1:${redis.port}\nfleet_name = bench\nfleet_host = h1\n`;
const configs = {
  alone: `${base}\n`,
  fleet: `${base}\n${fleet}`,
  'fleet, capped': `${base} warmup=100000000\n${fleet}`,
  'fleet, rated': `${base} rate=100000/s\n${fleet}`,
  'alone, rated': `${base} rate=100000/s\n`,
} as const;
type Name = keyof typeof configs;
const agents: ChildProcess[] = [];

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** A state file per config, with its agent when the config has a fleet (leases need one). */
async function prepare(name: Name, i: number): Promise<{ cfg: string; state: string }> {
  const cfg = file(`c${i}.cf`, configs[name]);
  const state = join(dir, `s${i}.state`);
  if (name.startsWith('fleet')) {
    const agent = spawn(process.execPath, [BIN, 'fleet', '-c', cfg, '-s', state, '--log-stderr'], { stdio: ['ignore', 'pipe', 'pipe'] });
    agents.push(agent);
    await watchText(agent.stderr).waitFor(/joins fleet/);
  }
  return { cfg, state };
}

async function concurrent(cfg: string, state: string, round: number): Promise<number> {
  const t0 = performance.now();
  const runs = await Promise.all([0, 1, 2, 3].map((k) => runPipe(process.execPath, [BIN, '-c', cfg, '-s', state, '--syslog', 'none'], keyLines(`r${round}k${k}-`, KEYS))));
  if (runs.some((r) => r.replies !== KEYS)) throw new Error('a reply is missing');
  return (4 * KEYS * 1000) / (performance.now() - t0);
}

const names = Object.keys(configs) as Name[];
const prepared = await Promise.all(names.map((n, i) => prepare(n, i)));
const rates = new Map<Name, number[]>(names.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, n] of names.entries()) rates.get(n)!.push(await concurrent(prepared[i]!.cfg, prepared[i]!.state, r));
}
const alone = median(rates.get('alone')!);
process.stdout.write(`lookups/s, 4 concurrent spawned instances, ${KEYS} keys each, median of ${ROUNDS} alternated rounds:\n`);
for (const n of names) process.stdout.write(`  ${n.padEnd(14)} ${Math.round(median(rates.get(n)!)).toLocaleString('en-US').padStart(8)}  (${(median(rates.get(n)!) / alone).toFixed(2)}x alone)   rounds ${rates.get(n)!.map((x) => Math.round(x)).join(', ')}\n`);

/** One lookup at a time, as Postfix asks: latencies in ms. */
async function latencies(p: Interactive, prefix: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const reply = await p.ask(`get ${prefix}${i}@example.com`);
    out.push(performance.now() - t0);
    if (!reply.startsWith('200 ')) throw new Error(`reply ${reply}`);
  }
  return out;
}
const capped = prepared[names.indexOf('fleet, capped')]!;
const p = new Interactive(['-c', capped.cfg, '-s', capped.state, '--syslog', 'none']);
const phases: [string, number[]][] = [];
phases.push(['before', await latencies(p, 'b', 3000)]);
redis.stop();
phases.push(['Redis SIGSTOPped', await latencies(p, 'st', 3000)]);
redis.cont();
await redis.kill();
phases.push(['Redis down', await latencies(p, 'dn', 3000)]);
await redis.restartEmpty();
phases.push(['restarted empty', await latencies(p, 'rs', 3000)]);
await p.end();
process.stdout.write('one lookup at a time, capped transport leased by postbal fleet, 3,000 lookups per phase:\n');
for (const [name, xs] of phases) process.stdout.write(`  ${name.padEnd(17)} p50 ${percentile(xs, 50).toFixed(3)} ms   p99 ${percentile(xs, 99).toFixed(3)} ms   max ${Math.max(...xs).toFixed(1)} ms\n`);
for (const a of agents) a.kill('SIGTERM');
await redis.kill();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
