import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PostfixLab, freePort } from './lab.js';
import { FAKETIME } from '../helpers/faketime.js';
import { watchText, type WatchedText } from '../helpers/daemon.js';
import { startRedis, type PrivateRedis } from '../helpers/redis.js';

/**
 * Three private Postfix instances on one machine as three hosts of a fleet,
 * one private redis-server, a `postbal fleet` agent per host: the issue's
 * lab, run by test/e2e/fleet.test.ts and `npm run lab:fleet` (which prints
 * the figures). Spawned instances and agents run at 23:00 by libfaketime,
 * when pacing opens a warm-up's whole day cap.
 */

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const NAMES = ['hosta', 'hostb', 'hostc'] as const;

export interface FleetHost {
  readonly name: string;
  readonly lab: PostfixLab;
  readonly agent: ChildProcess;
  readonly log: WatchedText;
}

export interface FleetLab {
  readonly hosts: readonly FleetHost[];
  readonly redis: PrivateRedis;
  /** Starts `postbal feedback` on a host's maillog; @returns what it printed so far, on call */
  feedback(h: FleetHost): () => string;
  stop(): Promise<void>;
}

/** `pool` names one smtp-sink shared by the three hosts as FLEETSINK: a transport is the same across the fleet when its value is. */
export async function startFleetLab(pool: string): Promise<FleetLab> {
  const redis = await startRedis();
  const sinkPort = await freePort();
  const sink = spawn('smtp-sink', ['-u', 'nobody', `127.0.0.1:${sinkPort}`, '1000'], { stdio: 'ignore', env: { PATH } });
  const clockDir = mkdtempSync('/tmp/postbal-clock-');
  chmodSync(clockDir, 0o755);
  const stamp = join(clockDir, 'faketime');
  writeFileSync(stamp, '@2026-06-01 23:00:00\n');
  chmodSync(stamp, 0o644);
  const clock = ['TZ=UTC', `LD_PRELOAD=${FAKETIME}`, `FAKETIME_TIMESTAMP_FILE=${stamp}`, 'FAKETIME_DONT_FAKE_MONOTONIC=1'];
  const hosts: FleetHost[] = [];
  const groups: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const g of groups) {
      try {
        process.kill(-g.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const h of hosts) {
      h.agent.kill('SIGTERM');
      h.lab.stop();
    }
    sink.kill('SIGKILL');
    await redis.kill();
    rmSync(clockDir, { recursive: true, force: true });
  };
  try {
    for (const name of NAMES) {
      const lab = await PostfixLab.start({
        mapLines: ['transport_maps = PBMAP'],
        pool: `${pool.replaceAll('FLEETSINK', String(sinkPort))}\nfleet = redis://127.0.0.1:${redis.port}\nfleet_name = lab\nfleet_host = ${name}\n`,
        argvPrefix: ['/usr/bin/env', ...clock],
      });
      const agent = spawn('/usr/bin/env', [...clock, process.execPath, lab.postbalBin, 'fleet', '--config', join(lab.etc, 'postbal.cf'), '--state', lab.statePath, '--log-stderr'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH } });
      const host = { name, lab, agent, log: watchText(agent.stderr, agent.stdout) };
      hosts.push(host);
      await host.log.waitFor(/joins fleet/);
    }
    // Each agent's first heartbeat is in the store (it logs nothing for it); the guard is against a hang.
    const end = Date.now() + 120_000;
    while (redis.cli('hlen', 'lab:hosts') !== '3') {
      if (Date.now() > end) throw new Error(`the three agents never reached the store:\n${hosts.map((h) => h.log.text()).join('\n')}`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    hosts,
    redis,
    feedback(h) {
      let printed = '';
      const q = (x: string): string => `'${x.replaceAll("'", "'\\''")}'`;
      const cmd = `exec tail -n +1 -F ${q(h.lab.maillog)} | exec runuser -u nobody -- ${q(process.execPath)} ${q(h.lab.postbalBin)} feedback --config ${q(join(h.lab.etc, 'postbal.cf'))} --state ${q(h.lab.statePath)} --trust-input --mail-owner postfix --syslog none --print`;
      const pipeline = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { PATH } });
      pipeline.stdout.on('data', (d: Buffer) => { printed += d.toString(); });
      pipeline.stderr.on('data', (d: Buffer) => { printed += `STDERR: ${d.toString()}`; });
      groups.push(pipeline);
      return () => printed;
    },
    stop,
  };
}

export interface FleetLabFigures {
  /** smtp2 (warmup=300) deliveries per host over 3 x `messages`. */
  readonly capped: readonly number[];
  readonly delivered: readonly number[];
  readonly deferred: readonly number[];
  /** From the drain typed on host A to the agents of B and C applying it, ms. */
  readonly drainMs: readonly number[];
  /** smtp1 deliveries on B and C of mail injected 1 s after the drain on A. */
  readonly afterDrain: number;
  /** Through a Redis SIGSTOP and an empty restart: messages delivered per host, smtp2 and smtp1 deliveries in all. */
  readonly outage: { readonly delivered: readonly number[]; readonly capped: number; readonly drainedAnswers: number; readonly lost: readonly number[]; readonly back: readonly number[] };
  /** A dead next hop learned by A's feedback: deliveries by B and C, and their own failures to reach it. */
  readonly deadHop: { readonly delivered: readonly number[]; readonly ownFailures: readonly number[]; readonly learnedMs: number };
}

const sentBy = (h: FleetHost, name: string): number => h.lab.delivered().sent.get(name) ?? 0;

/** The goals in three rounds: a fleet cap, a drain, Redis outages (one lab), then a dead next hop (a second). */
export async function runFleetLab(messages: number, say: (s: string) => void = () => undefined): Promise<FleetLabFigures> {
  const fleet = await startFleetLab('match = !lab.test\n{1}smtp0:[127.0.0.1]:FLEETSINK\n{1}smtp1:[127.0.0.1]:FLEETSINK\n{1}smtp2:[127.0.0.1]:FLEETSINK warmup=300,600');
  let capped: number[];
  let delivered: number[];
  let deferred: number[];
  let drainMs: number[];
  let afterDrain: number;
  let outage: FleetLabFigures['outage'];
  try {
    const [a, b, c] = fleet.hosts as [FleetHost, FleetHost, FleetHost];
    for (const h of fleet.hosts) h.lab.inject(messages);
    const done = await Promise.all(fleet.hosts.map((h) => h.lab.waitDelivered(messages, 600_000)));
    capped = fleet.hosts.map((h) => sentBy(h, 'smtp2'));
    delivered = done.map((d) => d.sentTotal);
    deferred = done.map((d) => d.deferred);
    say(`cap: smtp2 delivered ${capped.join(' + ')} = ${capped.reduce((x, y) => x + y, 0)} of a fleet cap of 300; ${delivered.join('/')} delivered, ${deferred.join('/')} deferred`);

    const typed = Date.now();
    if (a.lab.control(['drain', 'smtp1']).code !== 0) throw new Error('drain failed');
    drainMs = await Promise.all([b, c].map(async (h) => { await h.log.waitFor(/smtp1:\S* drained by the fleet/); return Date.now() - typed; }));
    // Not a wait for an event but the goal's own definition: mail asked for one second after the drain.
    await sleep(Math.max(0, 1000 - (Date.now() - typed)));
    const before = [b, c].map((h) => [sentBy(h, 'smtp1'), h.lab.delivered().sentTotal] as const);
    for (const h of [b, c]) h.lab.inject(200, { sender: 'late@lab.test' });
    await Promise.all([b, c].map((h, i) => h.lab.waitDelivered(before[i]![1] + 200, 600_000)));
    afterDrain = [b, c].reduce((n, h, i) => n + sentBy(h, 'smtp1') - before[i]![0], 0);
    say(`drain: typed on hosta, applied on hostb and hostc after ${drainMs.join(' and ')} ms; smtp1 delivered ${afterDrain} of 400 messages sent 1 s later`);

    // Outages while mail flows: SIGSTOP, then SIGKILL and an empty restart.
    const start = fleet.hosts.map((h) => h.lab.delivered().sentTotal);
    const smtp2Before = fleet.hosts.reduce((n, h) => n + sentBy(h, 'smtp2'), 0);
    const smtp1Before = fleet.hosts.reduce((n, h) => n + sentBy(h, 'smtp1'), 0);
    for (const h of fleet.hosts) h.lab.inject(messages, { sender: 'outage@lab.test' });
    fleet.redis.stop();
    await Promise.all(fleet.hosts.map((h) => h.log.waitFor(/store lost/)));
    fleet.redis.cont();
    await Promise.all(fleet.hosts.map((h) => h.log.waitFor(/reachable again/)));
    await fleet.redis.restartEmpty();
    await Promise.all(fleet.hosts.map((h) => h.log.waitFor(/reachable again[^]*reachable again/, 120_000)));
    const after = await Promise.all(fleet.hosts.map((h, i) => h.lab.waitDelivered(start[i]! + messages, 600_000)));
    outage = {
      delivered: after.map((d, i) => d.sentTotal - start[i]!),
      capped: fleet.hosts.reduce((n, h) => n + sentBy(h, 'smtp2'), 0) - smtp2Before,
      drainedAnswers: fleet.hosts.reduce((n, h) => n + sentBy(h, 'smtp1'), 0) - smtp1Before,
      lost: fleet.hosts.map((h) => h.log.text().match(/store lost/g)?.length ?? 0),
      back: fleet.hosts.map((h) => h.log.text().match(/reachable again/g)?.length ?? 0),
    };
    say(`outages: ${outage.delivered.join('/')} of ${messages} each delivered; smtp2 ${outage.capped} more (cap reached before); smtp1 (drained) ${outage.drainedAnswers}; "store lost" lines ${outage.lost.join('/')}, "reachable again" ${outage.back.join('/')}`);
  } finally {
    await fleet.stop();
  }
  const deadHop = await deadHopRound(say);
  return { capped, delivered, deferred, drainMs, afterDrain, outage, deadHop };
}

async function deadHopRound(say: (s: string) => void): Promise<FleetLabFigures['deadHop']> {
  const closed = await freePort();
  const fleet = await startFleetLab(`{3}smtp0:[127.0.0.1]:${closed}\n{2}smtp1:[127.0.0.1]:FLEETSINK\n{1}smtp2:[127.0.0.1]:FLEETSINK`);
  try {
    const [a, b, c] = fleet.hosts as [FleetHost, FleetHost, FleetHost];
    const printed = fleet.feedback(a);
    const started = Date.now();
    a.lab.inject(60);
    await Promise.all([b, c].map((h) => h.log.waitFor(/smtp0:\S* down by the fleet's feedback/, 300_000)));
    const learnedMs = Date.now() - started;
    if (!/smtp0:\S* down/.test(printed())) throw new Error(`feedback on hosta printed:\n${printed()}`);
    for (const h of [b, c]) h.lab.inject(300);
    const done = await Promise.all([b, c].map((h) => h.lab.waitDelivered(300, 600_000)));
    const ownFailures = [b, c].map((h) => h.lab.log().split('\n').filter((l) => l.includes('postfix-smtp0/') && /status=deferred|Connection refused/.test(l)).length);
    say(`dead hop: learned by hosta's feedback and in force on hostb and hostc ${learnedMs} ms after hosta's first mail; hostb and hostc delivered ${done.map((d) => d.sentTotal).join('/')} of 300 with ${ownFailures.join('/')} failures of their own`);
    return { delivered: done.map((d) => d.sentTotal), ownFailures, learnedMs };
  } finally {
    await fleet.stop();
  }
}
