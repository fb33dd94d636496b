/**
 * npm run bench:roundtrip: where a lookup's time goes when a helper is driven
 * as Postfix drives it, one request at a time over a socket. For each helper
 * it prints round trips/s and the CPU it burns per lookup (user + system,
 * from /proc), its syslog daemon's included: a constant-reply Perl loop (the
 * floor of any tcp_table helper), postbal with and without a line per
 * lookup, and postbal without shared state. Medians of alternated rounds.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, median, spawnOnSocket } from './common.js';
import { datagramSink, sinkReady } from '../test/helpers/syslog-sink.js';

const LOOKUPS = Number(process.env.BENCH_ROUNDTRIP_LOOKUPS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TICKS = 100; // USER_HZ on Linux

const dir = mkdtempSync(join(tmpdir(), 'postbal-rt-'));
const cfg = join(dir, 'postbal.cf');
writeFileSync(cfg, '{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n');
const perlLoop = join(dir, 'loop.pl');
writeFileSync(perlLoop, '$| = 1; while (<STDIN>) { print "200 smtp0:\\n" }\n');
const sock = join(dir, 'log.sock');

/** CPU seconds a process has used so far (utime + stime). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

/**
 * Starts `cmd` with a connected socket as stdin/stdout/stderr (as spawn(8)
 * does), asks LOOKUPS distinct keys one at a time, and measures.
 */
async function roundTrips(cmd: string, args: readonly string[], daemon: ChildProcess): Promise<{ rate: number; cpuUs: number }> {
  const helper = await spawnOnSocket(cmd, args);
  const daemonCpu0 = cpuSeconds(daemon.pid!);
  await helper.ask('get warmup@example.com\n', '\n');
  const cpu0 = cpuSeconds(helper.child.pid!);
  const t0 = performance.now();
  for (let i = 0; i < LOOKUPS; i++) await helper.ask(`get rt${i}@example${i % 97}.com\n`, '\n');
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(helper.child.pid!) - cpu0 + cpuSeconds(daemon.pid!) - daemonCpu0;
  await helper.close();
  return { rate: LOOKUPS / seconds, cpuUs: (cpu / LOOKUPS) * 1e6 };
}

const daemon = datagramSink(sock, true);
await sinkReady(daemon);
const node = process.execPath;
const state = (r: number, name: string): string => join(dir, `${name}-${r}.state`);
const modes: { name: string; argv: (r: number) => [string, string[]]; rates: number[]; cpu: number[] }[] = [
  { name: 'Perl constant-reply loop', argv: () => ['/usr/bin/perl', [perlLoop]], rates: [], cpu: [] },
  { name: 'postbal (default: no line per lookup)', argv: (r) => [node, [BIN, '-c', cfg, '-s', state(r, 'quiet'), '--syslog', `unix:${sock}`]], rates: [], cpu: [] },
  { name: 'postbal --log-lookups', argv: (r) => [node, [BIN, '-c', cfg, '-s', state(r, 'loud'), '--syslog', `unix:${sock}`, '--log-lookups']], rates: [], cpu: [] },
  { name: 'postbal --state none', argv: () => [node, [BIN, '-c', cfg, '-s', 'none', '--syslog', `unix:${sock}`]], rates: [], cpu: [] },
];
try {
  console.log(`bench:roundtrip: ${ROUNDS} alternated rounds of ${LOOKUPS.toLocaleString('en-US')} lookups, one at a time over a TCP socket; CPU = helper + syslog daemon`);
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of r % 2 ? [...modes].reverse() : modes) {
      const [cmd, args] = m.argv(r);
      const { rate, cpuUs } = await roundTrips(cmd, args, daemon);
      m.rates.push(rate);
      m.cpu.push(cpuUs);
    }
  }
  const floor = median(modes[0]!.rates);
  for (const m of modes) {
    console.log(`  ${m.name.padEnd(40)} ${Math.round(median(m.rates)).toLocaleString('en-US').padStart(7)} lookups/s (${(median(m.rates) / floor).toFixed(2)}x Perl)  ${median(m.cpu).toFixed(1).padStart(6)} us CPU per lookup`);
  }
} finally {
  daemon.kill();
  rmSync(dir, { recursive: true, force: true });
}
