/**
 * npm run bench: lookups/s of one instance and of 4 concurrent instances
 * (state file on, syslog at its default: no line per lookup), cold start to first reply, peak RSS,
 * and p99 reply latency of instances driven one request at a time. Each is
 * printed beside `node -e 0` measured in the same run; figures are medians.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, keyLines, median, percentile, runPipe, timeToFirstReply } from './common.js';
import { datagramSink, sinkReady } from '../test/helpers/syslog-sink.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const KEYS = 100_000;

const dir = mkdtempSync(join(tmpdir(), 'postbal-bench-'));
const cfg = join(dir, 'postbal.cf');
writeFileSync(cfg, '{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n');
const node = process.execPath;
const args = (state: string): string[] => [BIN, '-c', cfg, '-s', state];
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Socketmap requests for the same keys as keyLines. */
function netstrings(prefix: string, n: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const payload = `postbal ${prefix}${i}@example.com`;
    parts.push(`${payload.length}:${payload},`);
  }
  return Buffer.from(parts.join(''), 'latin1');
}

async function single(extra: readonly string[] = [], input: (prefix: string, n: number) => Buffer = keyLines): Promise<{ rate: number; rss: number }> {
  const rates: number[] = [];
  const rss: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const state = join(dir, `single-${r}-${extra.join('')}.state`);
    const run = await runPipe(node, [...args(state), ...extra], input(`s${r}-`, KEYS));
    if (run.replies !== KEYS) throw new Error(`expected ${KEYS} replies, got ${run.replies}`);
    rates.push((KEYS / run.ms) * 1000);
    rss.push(run.peakRssKb);
  }
  return { rate: median(rates), rss: median(rss) };
}

/** `n` instances at once on one state file, `per` distinct keys each. */
async function concurrent(n: number, per: number): Promise<number> {
  const rates: number[] = [];
  const inputs = Array.from({ length: n }, (_, i) => keyLines(`m${i}-`, per));
  for (let r = 0; r < ROUNDS; r++) {
    const state = join(dir, `multi-${n}-${per}-${r}.state`);
    const t0 = performance.now();
    const runs = await Promise.all(inputs.map((input) => runPipe(node, args(state), input)));
    const ms = performance.now() - t0;
    const total = runs.reduce((s, x) => s + x.replies, 0);
    if (total !== n * per) throw new Error(`expected ${n * per} replies, got ${total}`);
    rates.push(((n * per) / ms) * 1000);
  }
  return median(rates);
}

async function coldStart(): Promise<{ postbal: number; nodeBare: number }> {
  const p: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS * 4; r++) {
    b.push(await timeToFirstReply(node, ['-e', '0'], ''));
    p.push(await timeToFirstReply(node, args(join(dir, 'cold.state')), 'get cold@example.com\n'));
  }
  return { postbal: median(p), nodeBare: median(b) };
}

/** Latency of one request at a time (as Postfix asks), `n` instances at once. */
async function latency(n: number, perInstance: number, shared = true): Promise<{ p50: number; p99: number }> {
  const state = shared ? join(dir, `lat-${n}.state`) : 'none';
  const all: number[] = [];
  await Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>((resolvePromise, reject) => {
    const child = spawn(node, args(state), { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: '/usr/bin:/bin' } });
    child.on('error', reject);
    let k = 0;
    let t0 = 0;
    let buf = '';
    const next = (): void => {
      if (k === perInstance) {
        child.stdin.end();
        return;
      }
      t0 = performance.now();
      child.stdin.write(`get l${i}-${k++}@example.com\n`);
    };
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d: string) => {
      buf += d;
      while (buf.includes('\n')) {
        buf = buf.slice(buf.indexOf('\n') + 1);
        if (k > 1) all.push(performance.now() - t0); // the first includes start-up
        next();
      }
    });
    child.on('close', () => resolvePromise());
    next();
  })));
  return { p50: percentile(all, 50), p99: percentile(all, 99) };
}

/** Throughput with a log line per lookup, by what is behind the syslog socket. */
async function syslogCost(): Promise<void> {
  const sinks: ChildProcess[] = [];
  try {
    const targets: [string, string][] = [['none (--syslog none)', 'none'], ['absent (no socket)', `unix:${join(dir, 'absent.sock')}`]];
    for (const [label, reading] of [['stalled (bound, never read)', false], ['a reading daemon', true]] as const) {
      const path = join(dir, `${reading ? 'live' : 'stalled'}.sock`);
      const sink = datagramSink(path, reading);
      sinks.push(sink);
      await sinkReady(sink);
      targets.push([label, `unix:${path}`]);
    }
    const rates = new Map<string, number[]>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const [label, target] of targets) {
        const run = await runPipe(node, [...args(join(dir, `sys-${r}-${label.length}.state`)), '--syslog', target, '--log-lookups'], keyLines(`y${r}-`, KEYS));
        if (run.replies !== KEYS) throw new Error(`expected ${KEYS} replies, got ${run.replies}`);
        rates.set(label, [...(rates.get(label) ?? []), (KEYS / run.ms) * 1000]);
      }
    }
    // The baseline is a healthy daemon: the faults must not cost more than it.
    const base = median(rates.get('a reading daemon')!);
    console.log(`1 instance, ${fmt(KEYS)} keys, a log line per lookup, by what is behind the syslog socket (pipe start to exit):`);
    for (const [label] of targets) {
      const rate = median(rates.get(label)!);
      console.log(`  ${label}: ${fmt(rate)} lookups/s, ${((rate / base - 1) * 100).toFixed(1)}% against a reading daemon${label.startsWith('none') ? '' : ' (goal for absent and stalled: no worse than -10%)'}`);
    }
  } finally {
    for (const s of sinks) s.kill('SIGKILL');
  }
}

try {
  console.log(`postbal bench: ${ROUNDS} rounds, medians; node ${process.version}; syslog daemon on /dev/log: ${existsSync('/dev/log') ? 'yes' : 'NO (log lines are sent nowhere)'}`);
  const cold = await coldStart();
  console.log(`cold start to first reply: postbal ${cold.postbal.toFixed(1)} ms, node -e 0 ${cold.nodeBare.toFixed(1)} ms, ratio ${(cold.postbal / cold.nodeBare).toFixed(2)} (target <= 1.5)`);
  const one = await single();
  console.log(`1 instance, ${fmt(KEYS)} distinct keys, state file, no line per lookup (the default): ${fmt(one.rate)} lookups/s (target >= 20,000; postbal.pl ~4,600), peak RSS ${(one.rss / 1024).toFixed(1)} MB (target <= 60)`);
  for (const [label, extra, input] of [
    ['--algorithm random', ['--algorithm', 'random'], keyLines],
    ['--algorithm sticky', ['--algorithm', 'sticky'], keyLines],
    ['socketmap requests', [], netstrings],
  ] as const) {
    const r = await single(extra, input);
    console.log(`1 instance, ${label}: ${fmt(r.rate)} lookups/s, ${(r.rate / one.rate).toFixed(2)}x wrr over tcp_table`);
  }
  await syslogCost();
  const four = await concurrent(4, KEYS);
  console.log(`4 instances at once, ${fmt(KEYS)} keys each, one state file: ${fmt(four)} lookups/s together, ${(four / one.rate).toFixed(2)}x one instance (target >= 1.0)`);
  const split = await concurrent(4, KEYS / 4);
  console.log(`4 instances at once, ${fmt(KEYS / 4)} keys each (start-up and JIT warm-up of 4 processes included): ${fmt(split)} lookups/s together, ${(split / one.rate).toFixed(2)}x one instance`);
  const lat = await latency(4, 2000);
  console.log(`one request at a time, 4 instances: reply latency p50 ${lat.p50.toFixed(3)} ms, p99 ${lat.p99.toFixed(3)} ms`);
  const perLoad = Number(process.env.BENCH_LOAD_PER ?? 50_000);
  if (perLoad > 0) {
    const load = await latency(8, perLoad);
    console.log(`load: 8 instances x ${fmt(perLoad)} lookups, one request at a time each, one state file: p50 ${load.p50.toFixed(3)} ms, p99 ${load.p99.toFixed(3)} ms (goal p99 <= 2 ms)`);
    // Baseline: the same load with nothing shared (no lock, no state file):
    // what 8 busy processes on this machine's cores cost by themselves.
    const floor = await latency(8, perLoad, false);
    console.log(`  baseline, same load with --state none (no lock, no sharing): p50 ${floor.p50.toFixed(3)} ms, p99 ${floor.p99.toFixed(3)} ms`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
