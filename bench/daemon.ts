/**
 * npm run bench:daemon: `postbal daemon` beside what a busy host runs
 * instead, in one run, alternated rounds, medians:
 *  1. one lookup at a time over one connection: p50 and p99 against a
 *     constant-reply Perl loop (goal: daemon p50 <= 1.5x Perl's), a
 *     constant-reply Node server (the floor of any Node daemon), and a
 *     spawned postbal with the same state file;
 *  2. lookups/s and p99 at 4 and 100 concurrent connections, each asking
 *     one at a time: the daemon against spawn mode (one process per
 *     connection, one state file; goal >= 2x at 4);
 *  3. policy requests/s and p99 at 100 concurrent connections: the daemon
 *     against 100 hapolicy and 100 spawned `postbal policy` processes
 *     (goal >= 3x hapolicy);
 *  Each row also gives the CPU the serving side spent per request (the
 *  daemon; every spawned process summed), which the client and the policy
 *  service, on the same 2 cores, do not cloud.
 *  4. memory with 100 policy and 4 lookup connections open: the daemon's
 *     RSS against the proportional set size (smaps_rollup) summed over the
 *     spawned processes (goal <= 80 MB).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, askOn, median, percentile, spawnOnSocket, type SocketHelper } from './common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ONE_BY_ONE = Number(process.env.BENCH_DAEMON_LOOKUPS ?? 20_000);
const CONCURRENT = Number(process.env.BENCH_DAEMON_CONCURRENT ?? 200);
const HAPOLICY = '/usr/sbin/hapolicy';
const REQUEST = 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\nsender=a@x.example\nrecipient=b@y.example\n\n';

/** A client of a socket: asks and waits for the reply's end. */
interface Asker {
  ask(text: string, end: string): Promise<void>;
  close(): Promise<void>;
  readonly pid?: number;
}

function clientOf(socket: Socket, onClose: () => Promise<void>): Asker {
  const ask = askOn(socket);
  return { ask, close: async () => { socket.end(); await onClose(); } };
}

async function dial(where: string | number): Promise<Asker> {
  const socket = typeof where === 'number' ? connect(where, '127.0.0.1') : connect(where);
  if (typeof where === 'number') socket.setNoDelay(true);
  await new Promise<void>((r, j) => { socket.once('connect', () => r()); socket.once('error', j); });
  return clientOf(socket, () => new Promise((r) => { socket.once('close', () => r()); }));
}

function fromHelper(h: SocketHelper): Asker {
  return { ask: (t, e) => h.ask(t, e), close: () => h.close(), pid: h.child.pid! };
}

interface Daemon { child: ChildProcess; tcp: number; map: string; policy: string }

async function startDaemon(dir: string, statePath: string, policyPort: number): Promise<Daemon> {
  const tcp = 20_000 + Math.floor(Math.random() * 20_000);
  const map = join(dir, `map-${tcp}.sock`);
  const policy = join(dir, `policy-${tcp}.sock`);
  const child = spawn(process.execPath, [BIN, 'daemon', '-c', join(dir, 'pool.cf'), '--state', statePath, '--policy-state', 'none', '--syslog', 'none',
    '--listen', `tcp:127.0.0.1:${tcp}`, '--listen', `socketmap:${map}`, '--listen', `policy:${policy}`, '-s', `good=127.0.0.1:${policyPort}`, '--log-stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stderr.on('data', (d: Buffer) => { text += d.toString(); if (text.includes('daemon: serving')) resolve(); });
    child.once('exit', (c) => reject(new Error(`daemon exited ${c}: ${text}`)));
  });
  return { child, tcp, map, policy };
}

async function stopDaemon(d: Daemon): Promise<void> {
  d.child.kill('SIGTERM');
  await new Promise((r) => d.child.once('exit', r));
}

/** Asks `n` lookups one at a time on each of `askers` at once. @returns lookups/s and every reply time (µs) */
async function drive(askers: readonly Asker[], n: number, text: (i: number) => string, end: string): Promise<{ rate: number; lat: number[] }> {
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(askers.map(async (a, c) => {
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      await a.ask(text(c * n + i), end);
      lat.push((performance.now() - s) * 1000);
    }
  }));
  return { rate: (askers.length * n) / ((performance.now() - t0) / 1000), lat };
}

const lookup = (i: number): string => `get k${i}@example${i % 97}.com\n`;

/** Proportional set size of a process, kB. */
function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** CPU seconds a process has used so far (utime + stime, USER_HZ 100). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Runs `work` and returns the CPU µs per request the processes `pids` spent on it. */
async function cpuPer<T>(pids: readonly number[], requests: number, work: () => Promise<T>): Promise<{ result: T; us: number }> {
  const before = pids.reduce((s, p) => s + cpuSeconds(p), 0);
  const result = await work();
  const after = pids.reduce((s, p) => s + cpuSeconds(p), 0);
  return { result, us: ((after - before) / requests) * 1e6 };
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

async function policyService(): Promise<{ port: number; child: ChildProcess }> {
  const code = `const s=require('net').createServer(c=>{c.on('error',()=>{});let b='';c.on('data',d=>{b+=d;let i;while((i=b.indexOf('\\n\\n'))>=0){b=b.slice(i+2);c.write('action=dunno\\n\\n');}});});s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  return { port, child };
}

type Rows = Map<string, { rates: number[]; p50: number[]; p99: number[]; cpu: number[] }>;
function record(rows: Rows, name: string, r: { rate: number; lat: number[] }, cpuUs?: number): void {
  const row = rows.get(name) ?? { rates: [], p50: [], p99: [], cpu: [] };
  row.rates.push(r.rate);
  row.p50.push(percentile(r.lat, 50));
  row.p99.push(percentile(r.lat, 99));
  if (cpuUs !== undefined) row.cpu.push(cpuUs);
  rows.set(name, row);
}

/** Drives `askers` and records the rate, latencies and the CPU per request of `pids`. */
async function measure(name: string, askers: readonly Asker[], pids: readonly number[], n: number, text: (i: number) => string, end: string): Promise<void> {
  // Started and warmed up before the clock and the CPU count start.
  await Promise.all(askers.map((a) => a.ask(text(-1), end)));
  const { result, us } = await cpuPer(pids, askers.length * n, () => drive(askers, n, text, end));
  record(rows, name, result, us);
}

/** A Node server that answers every line with one constant reply: the floor of any Node daemon. */
async function nodeFloor(): Promise<{ port: number; child: ChildProcess }> {
  const code = `const s=require('net').createServer(c=>{c.setNoDelay(true);c.on('error',()=>{});c.on('data',d=>{let n=0;for(const b of d)if(b===10)n++;c.write('200 smtp0:\\n'.repeat(n));});});s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  return { port, child };
}

async function closeAll(askers: readonly Asker[]): Promise<void> {
  await Promise.all(askers.map((a) => a.close()));
}

if (!existsSync(HAPOLICY) && process.getuid?.() === 0) {
  spawnSync('apt-get', ['install', '-y', '-qq', 'hapolicy'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}
const dir = mkdtempSync(join(tmpdir(), 'postbal-bench-daemon-'));
writeFileSync(join(dir, 'pool.cf'), '{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n');
const perlLoop = join(dir, 'loop.pl');
writeFileSync(perlLoop, '$| = 1; while (<STDIN>) { print "200 smtp0:\\n" }\n');
const service = await policyService();
const floor = await nodeFloor();
const node = process.execPath;
const rows: Rows = new Map();
const memory: Record<string, number[]> = { daemon: [], 'spawned postbal': [], hapolicy: [] };
try {
  console.log(`bench:daemon: ${ROUNDS} alternated rounds; ${ONE_BY_ONE.toLocaleString('en-US')} lookups one at a time; ${CONCURRENT} requests per connection at 4 and 100 connections`);
  for (let r = 0; r < ROUNDS; r++) {
    const state = join(dir, `r${r}.state`);
    const spawnState = join(dir, `r${r}-spawn.state`);
    const d = await startDaemon(dir, state, service.port);
    const dpid = d.child.pid!;
    const pidsOf = (xs: readonly Asker[]): number[] => xs.map((x) => x.pid!);
    const spawnLookup = async (): Promise<Asker> => fromHelper(await spawnOnSocket(node, [BIN, '-c', join(dir, 'pool.cf'), '-s', spawnState, '--syslog', 'none']));
    const order: (() => Promise<void>)[] = [
      async () => { const a = fromHelper(await spawnOnSocket('/usr/bin/perl', [perlLoop])); await measure('1 conn: Perl constant-reply loop', [a], [a.pid!], ONE_BY_ONE, lookup, '\n'); await a.close(); },
      async () => { const a = await dial(floor.port); await measure('1 conn: Node constant-reply server', [a], [floor.child.pid!], ONE_BY_ONE, lookup, '\n'); await a.close(); },
      async () => { const a = await dial(d.tcp); await measure('1 conn: daemon, tcp_table over TCP', [a], [dpid], ONE_BY_ONE, lookup, '\n'); await a.close(); },
      async () => { const a = await spawnLookup(); await measure('1 conn: spawned postbal, state file', [a], [a.pid!], ONE_BY_ONE, lookup, '\n'); await a.close(); },
      async () => {
        for (const c of [4, 100]) {
          const ds = await Promise.all(Array.from({ length: c }, () => dial(d.tcp)));
          await measure(`${c} conns: daemon lookups`, ds, [dpid], CONCURRENT, lookup, '\n');
          await closeAll(ds);
          const ss = await Promise.all(Array.from({ length: c }, spawnLookup));
          await measure(`${c} conns: spawned postbal lookups`, ss, pidsOf(ss), CONCURRENT, lookup, '\n');
          await closeAll(ss);
        }
      },
      async () => {
        const lookups = await Promise.all(Array.from({ length: 4 }, () => dial(d.tcp)));
        await Promise.all(lookups.map((a) => a.ask(lookup(0), '\n')));
        const dp = await Promise.all(Array.from({ length: 100 }, () => dial(d.policy)));
        await measure('100 conns: daemon policy', dp, [dpid], CONCURRENT, () => REQUEST, '\n\n');
        memory.daemon!.push(rssKb(dpid));
        await closeAll([...dp, ...lookups]);
        const sp = await Promise.all(Array.from({ length: 100 }, async () => fromHelper(await spawnOnSocket(node, [BIN, 'policy', '--state', 'none', '--syslog', 'none', '-s', `good=127.0.0.1:${service.port}`], true))));
        const sl = await Promise.all(Array.from({ length: 4 }, spawnLookup));
        await measure('100 conns: spawned postbal policy', sp, pidsOf(sp), CONCURRENT, () => REQUEST, '\n\n');
        await Promise.all(sl.map((a) => a.ask(lookup(0), '\n')));
        memory['spawned postbal']!.push([...sp, ...sl].reduce((s, a) => s + pssKb(a.pid!), 0));
        await closeAll([...sp, ...sl]);
        if (!existsSync(HAPOLICY)) return;
        const hp = await Promise.all(Array.from({ length: 100 }, async () => fromHelper(await spawnOnSocket('/usr/bin/perl', ['-T', HAPOLICY, '-s', `good=127.0.0.1:${service.port}`], true))));
        await measure('100 conns: hapolicy', hp, pidsOf(hp), CONCURRENT, () => REQUEST, '\n\n');
        memory.hapolicy!.push(hp.reduce((s, a) => s + pssKb(a.pid!), 0));
        await closeAll(hp);
      },
    ];
    for (const step of r % 2 ? [...order].reverse() : order) {
      await step();
      if (process.env.BENCH_VERBOSE) console.log(`  step done, ${rows.size} rows`);
    }
    await stopDaemon(d);
  }
  const ms = (us: number): string => `${(us / 1000).toFixed(3)} ms`;
  for (const [name, row] of rows) {
    console.log(`  ${name.padEnd(40)} ${Math.round(median(row.rates)).toLocaleString('en-US').padStart(8)}/s   p50 ${ms(median(row.p50))}   p99 ${ms(median(row.p99))}   ${median(row.cpu).toFixed(1).padStart(6)} us CPU per request (server side)`);
  }
  const ratio = (a: string, b: string, f: (x: { rates: number[]; p50: number[]; cpu: number[] }) => number[]): string => {
    const x = rows.get(a);
    const y = rows.get(b);
    return x && y ? (median(f(x)) / median(f(y))).toFixed(2) : 'n/a';
  };
  console.log(`  daemon p50 / Perl p50 (one at a time): ${ratio('1 conn: daemon, tcp_table over TCP', '1 conn: Perl constant-reply loop', (x) => x.p50)} (goal <= 1.5)`);
  console.log(`  daemon / spawn lookups/s at 4 connections: ${ratio('4 conns: daemon lookups', '4 conns: spawned postbal lookups', (x) => x.rates)} (goal >= 2); at 100: ${ratio('100 conns: daemon lookups', '100 conns: spawned postbal lookups', (x) => x.rates)}`);
  console.log(`  daemon / hapolicy policy requests/s at 100 connections: ${ratio('100 conns: daemon policy', '100 conns: hapolicy', (x) => x.rates)} (goal >= 3); CPU per request, hapolicy / daemon: ${ratio('100 conns: hapolicy', '100 conns: daemon policy', (x) => x.cpu)}`);
  console.log(`  Node constant-reply server p50 / Perl p50: ${ratio('1 conn: Node constant-reply server', '1 conn: Perl constant-reply loop', (x) => x.p50)} (the floor of a Node daemon)`);
  const mb = (kb: number[]): string => (kb.length ? `${(median(kb) / 1024).toFixed(1)} MB` : 'n/a');
  console.log(`  memory, 100 policy + 4 lookup connections: daemon RSS ${mb(memory.daemon!)} (goal <= 80 MB); spawned postbal PSS summed ${mb(memory['spawned postbal']!)}; hapolicy PSS summed (100) ${mb(memory.hapolicy!)}`);
} finally {
  service.child.kill();
  floor.child.kill();
  rmSync(dir, { recursive: true, force: true });
}
