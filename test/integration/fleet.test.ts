/**
 * The fleet on one machine: three "hosts" (a config and a state file each,
 * with their own `postbal fleet` agent) and one private redis-server.
 * Drains and feedback's decisions taken on one host reach the others;
 * a warm-up cap is a fleet cap, exact, while all three answer at once;
 * Redis stopped, killed and restarted empty loses no drain, never lets a
 * cap be exceeded, and every lookup is answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, Interactive, ROOT, runPostbal, tempDir } from '../helpers/postbal.js';
import { Client, startDaemon, watchText, type WatchedText } from '../helpers/daemon.js';
import { freePort, redisUnavailable, startRedis, type PrivateRedis } from '../helpers/redis.js';
import { at, faketimeUnavailable } from '../helpers/faketime.js';

const RECORDED = readFileSync(join(ROOT, 'test/fixtures/postfix-maillog.txt'), 'utf8');
const HOSTS = ['hosta', 'hostb', 'hostc'] as const;

interface Host {
  readonly name: string;
  readonly cf: string;
  readonly state: string;
  agent: ChildProcess;
  log: WatchedText;
  exited: Promise<unknown>;
}

function pool(redis: PrivateRedis, host: string, extra: string): string {
  return `{3}smtp0:[127.0.0.1]:2525\n{2}smtp1:[127.0.0.1]:2526\n{1}smtp2:[127.0.0.1]:2527${extra}\nfleet = redis://127.0.0.1:${redis.port}\nfleet_host = ${host}\nfleet_name = t\n`;
}

function startAgent(h: Omit<Host, 'agent' | 'log' | 'exited'>, env?: NodeJS.ProcessEnv): Host {
  const agent = spawn(process.execPath, [BIN, 'fleet', '-c', h.cf, '-s', h.state, '--log-stderr'], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? { PATH: '/usr/bin:/bin' } });
  const exited = new Promise((resolve) => agent.once('exit', resolve));
  const host = { ...h, agent, log: watchText(agent.stderr, agent.stdout), exited };
  STARTED.push(host);
  return host;
}

async function fleetOf(t: ReturnType<typeof tempDir>, redis: PrivateRedis, extra = '', env?: NodeJS.ProcessEnv): Promise<Host[]> {
  const hosts = HOSTS.map((name) => startAgent({ name, cf: t.file(`${name}.cf`, pool(redis, name, extra)), state: join(t.dir, `${name}.state`) }, env));
  // Each has synced once: its heartbeat is in the store.
  for (const h of hosts) await h.log.waitFor(/joins fleet/);
  await waitUntil(() => redis.cli('hlen', 't:hosts') === '3', 'three hosts in t:hosts');
  return hosts;
}

/** Every agent started, so a failed test leaves none running. */
const STARTED: Host[] = [];
process.on('exit', () => { for (const h of STARTED) h.agent.kill('SIGKILL'); });

async function stopAll(hosts: readonly Host[]): Promise<void> {
  for (const h of hosts) h.agent.kill('SIGTERM');
  await Promise.all(hosts.map((h) => h.exited));
}

/** Polls a condition (no fixed sleep decides anything), with a guard against a hang. */
async function waitUntil(cond: () => boolean, what: string, guardMs = 60_000): Promise<void> {
  const end = Date.now() + guardMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`never: ${what}`);
    await sleep(20);
  }
}

/** `n` new keys asked one at a time of one spawned instance; the replies by transport. */
async function lookups(h: Host, prefix: string, n: number, env?: NodeJS.ProcessEnv, gapMs = 0): Promise<Map<string, number>> {
  const p = new Interactive(['-c', h.cf, '-s', h.state, '--syslog', 'none'], env ? { env } : {});
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const reply = await p.ask(`get ${prefix}${i}@example${i % 7}.com`);
    const m = /^200 (smtp\d):/.exec(reply);
    const k = m ? m[1]! : reply;
    counts.set(k, (counts.get(k) ?? 0) + 1);
    // Traffic's shape, not a wait for anything: spread over seconds, as mail comes, so leases are asked for while it flows.
    if (gapMs > 0) await sleep(gapMs);
  }
  assert.equal(await p.end(), 0);
  assert.equal(p.stderr, '');
  return counts;
}

test('fleet: a drain typed on one host holds on the others; feedback learned on one host is in force on all', async (t) => {
  if (redisUnavailable(t, 'fleet drains and feedback')) return;
  const dir = tempDir();
  const redis = await startRedis();
  try {
    const [a, b, c] = await fleetOf(dir, redis);
    const started = Date.now();
    const drain = await runPostbal(['drain', 'smtp1:', '-c', a!.cf, '-s', a!.state, '--syslog', 'none'], '');
    assert.equal(drain.code, 0, drain.stderr);
    await Promise.all([b!, c!].map((h) => h.log.waitFor(/smtp1:\S* drained by the fleet \(decided by hosta\)/)));
    process.stdout.write(`# drain on hosta in force on hostb and hostc after ${Date.now() - started} ms\n`);
    for (const h of [b!, c!]) assert.equal((await lookups(h, `d${h.name}`, 30)).get('smtp1'), undefined, `${h.name} answers smtp1 after the fleet's drain`);

    // Feedback on host A only: smtp2 down, smtp1 suspended for remote.example.
    const fb = await runPostbal(['feedback', '-c', a!.cf, '-s', a!.state, '--syslog', 'none', '--trust-input', '--mail-owner', '102', '--print'], RECORDED);
    assert.equal(fb.code, 0, fb.stderr);
    assert.match(fb.stdout, /smtp2: down/);
    for (const h of [b!, c!]) await h.log.waitFor(/smtp2:\S* down by the fleet's feedback/);
    for (const h of [b!, c!]) assert.equal((await lookups(h, `f${h.name}`, 30)).get('smtp2'), undefined, `${h.name} answers smtp2, down on hosta`);
    const status = await runPostbal(['status', '-c', b!.cf, '-s', b!.state], '');
    assert.match(status.stdout, /fleet t at redis:\/\/127\.0\.0\.1:\d+: store up/);
    assert.match(status.stdout, /hosta .*\n.*hostb|hostb/);

    // Undrain on C: back on A and B.
    assert.equal((await runPostbal(['undrain', 'smtp1:', '-c', c!.cf, '-s', c!.state, '--syslog', 'none'], '')).code, 0);
    for (const h of [a!, b!]) await h.log.waitFor(/smtp1:\S* undrained by the fleet \(decided by hostc\)/);
    await stopAll([a!, b!, c!]);
    for (const h of [a!, b!, c!]) assert.doesNotMatch(h.log.text(), /error|MaxListeners/i, h.log.text());
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    await redis.kill();
    dir.cleanup();
  }
});

test('fleet: a warm-up cap of 300 is the fleet\'s: three hosts answering at once give smtp2 exactly 300', async (t) => {
  if (redisUnavailable(t, 'fleet warm-up cap') || faketimeUnavailable(t, 'fleet warm-up cap')) return;
  const dir = tempDir();
  const redis = await startRedis();
  // 23:00 local time: pacing opens the whole day's cap.
  const env = at('2026-12-02 23:00:00', 'UTC');
  try {
    const hosts = await fleetOf(dir, redis, ' warmup=300,600', env);
    const results = await Promise.all(hosts.map((h) => lookups(h, `w${h.name}`, 1000, env, 5)));
    const through = results.map((r) => r.get('smtp2') ?? 0);
    const answered = results.map((r) => [...r.values()].reduce((x, y) => x + y, 0));
    process.stdout.write(`# smtp2 answers per host: ${through.join(', ')} (fleet ${through.reduce((x, y) => x + y, 0)}); answered ${answered.join(', ')}\n`);
    assert.deepEqual(answered, [1000, 1000, 1000]);
    assert.equal(through.reduce((x, y) => x + y, 0), 300);
    await stopAll(hosts);
    const warm = redis.cli('--scan', '--pattern', 't:warm:*').split('\n').filter(Boolean);
    assert.equal(warm.length, 1);
    assert.equal(redis.cli('hget', warm[0]!, 'count'), '300');
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    await redis.kill();
    dir.cleanup();
  }
});

test('fleet: Redis stopped, killed and restarted empty mid-run: every lookup answered, the cap never exceeded, no drain lost', async (t) => {
  if (redisUnavailable(t, 'fleet outages') || faketimeUnavailable(t, 'fleet outages')) return;
  const dir = tempDir();
  const redis = await startRedis();
  const env = at('2026-12-02 23:00:00', 'UTC');
  try {
    const hosts = await fleetOf(dir, redis, ' warmup=200,400', env);
    const [a, b, c] = hosts;
    assert.equal((await runPostbal(['drain', 'smtp0:', '-c', a!.cf, '-s', a!.state, '--syslog', 'none'], '', { env })).code, 0);
    for (const h of [b!, c!]) await h.log.waitFor(/smtp0:\S* drained by the fleet/);
    const running = Promise.all(hosts.map((h) => lookups(h, `o${h.name}`, 1200, env, 3)));
    redis.stop();
    for (const h of hosts) await h.log.waitFor(/fleet: store lost/);
    redis.cont();
    for (const h of hosts) await h.log.waitFor(/reachable again/);
    await redis.restartEmpty();
    for (const h of hosts) await h.log.waitFor(/reachable again[^]*reachable again/);
    const results = await running;
    const through = results.map((r) => r.get('smtp2') ?? 0);
    const answered = results.map((r) => [...r.values()].reduce((x, y) => x + y, 0));
    process.stdout.write(`# through outages: smtp2 per host ${through.join(', ')} (fleet ${through.reduce((x, y) => x + y, 0)} of a cap of 200); smtp0 answers ${results.map((r) => r.get('smtp0') ?? 0).join(', ')}\n`);
    assert.deepEqual(answered, [1200, 1200, 1200]);
    assert.ok(through.reduce((x, y) => x + y, 0) <= 200, 'the fleet cap was exceeded');
    for (const r of results) assert.equal(r.get('smtp0'), undefined, 'a drained transport answered');
    // The drain came back into the emptied store: republished by the hosts.
    await waitUntil(() => /"v":"1"/.test(redis.cli('hget', 't:facts', redis.cli('hkeys', 't:facts').split('\n').find((k) => k.startsWith('d:') && /"v":"1"/.test(redis.cli('hget', 't:facts', k))) ?? 'none')), 'the drain republished');
    await stopAll(hosts);
    for (const h of hosts) {
      assert.equal(h.log.text().match(/store lost/g)?.length, 2, h.log.text());
      assert.equal(h.log.text().match(/reachable again/g)?.length, 2, h.log.text());
    }
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    await redis.kill();
    dir.cleanup();
  }
});

test('fleet: a host running postbal daemon takes the fleet\'s drain and its lease like spawned instances; one store connection per host', async (t) => {
  if (redisUnavailable(t, 'fleet with the daemon') || faketimeUnavailable(t, 'fleet with the daemon')) return;
  const dir = tempDir();
  const redis = await startRedis();
  const env = at('2026-12-02 23:00:00', 'UTC');
  try {
    const [a, b] = (await fleetOf(dir, redis, ' warmup=50,100', env)) as [Host, Host, Host];
    const port = await freePort();
    const d = await startDaemon(['-c', a.cf, '--state', a.state, '--syslog', 'none', '--listen', `tcp:127.0.0.1:${port}`], { env });
    const client = await Client.open(port);
    // Grants start 2 s after a new store's epoch (every host republishes first): wait for the first.
    await waitUntil(() => redis.cli('--scan', '--pattern', 't:warm:*').split('\n').some((k) => k !== '' && Number(redis.cli('hget', k, 'reserved')) > 0), 'a first lease');
    const ask = async (prefix: string, n: number): Promise<Map<string, number>> => {
      const replies = await client.ask(Array.from({ length: n }, (_, i) => `get ${prefix}${i}@example${i % 5}.com\n`).join(''), n);
      const counts = new Map<string, number>();
      for (const m of replies.matchAll(/^200 (smtp\d):/gm)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
      return counts;
    };
    // The daemon and host B's spawned instances share the fleet cap of 50.
    let daemonCapped = 0;
    for (let i = 0; i < 20; i++) daemonCapped += (await ask(`c${i}-`, 30)).get('smtp2') ?? 0;
    const spawned = (await lookups(b, 'cb', 400, env, 2)).get('smtp2') ?? 0;
    for (let i = 20; i < 40; i++) daemonCapped += (await ask(`c${i}-`, 30)).get('smtp2') ?? 0;
    process.stdout.write(`# smtp2 (fleet cap 50): daemon on hosta ${daemonCapped}, spawned on hostb ${spawned}\n`);
    assert.ok(daemonCapped + spawned <= 50, `cap exceeded: ${daemonCapped} + ${spawned}`);
    assert.ok(daemonCapped > 0 && spawned > 0, 'both hosts had a share of the cap');
    assert.equal((await runPostbal(['drain', 'smtp1:', '-c', b.cf, '-s', b.state, '--syslog', 'none'], '', { env })).code, 0);
    await a.log.waitFor(/smtp1:\S* drained by the fleet \(decided by hostb\)/);
    assert.equal((await ask('after-', 60)).get('smtp1'), undefined, 'the daemon answered smtp1 after the fleet drained it');
    // One connection to Redis per agent, whatever serves the lookups.
    const clients = redis.cli('client', 'list').split('\n').filter((l) => l.includes('cmd=')).length;
    assert.ok(clients <= 4, `${clients} store connections for 3 agents (and redis-cli)`);
    await client.close();
    assert.equal(await d.stop(), 0);
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    await redis.kill();
    dir.cleanup();
  }
});

test('fleet: a Redis ACL user from fleet_password_file; a password file others can read, or a password in the URL, is refused (78)', async (t) => {
  if (redisUnavailable(t, 'fleet with a password')) return;
  const dir = tempDir();
  const redis = await startRedis();
  try {
    redis.cli('ACL', 'SETUSER', 'postbal', 'on', '>s3cret-pw', '~*', '+@all');
    redis.cli('ACL', 'SETUSER', 'default', 'off');
    const pw = dir.file('redis.pw', 'postbal s3cret-pw\n');
    chmodSync(pw, 0o600);
    const cf = dir.file('a.cf', `{1}smtp0:\n{1}smtp1:\nfleet = redis://127.0.0.1:${redis.port}\nfleet_name = t\nfleet_host = hosta\nfleet_password_file = ${pw}\n`);
    const h = startAgent({ name: 'hosta', cf, state: join(dir.dir, 'a.state') });
    await h.log.waitFor(/joins fleet/);
    assert.equal((await runPostbal(['drain', 'smtp1:', '-c', cf, '-s', join(dir.dir, 'a.state'), '--syslog', 'none'], '')).code, 0);
    await waitUntil(() => /"v":"1"/.test(spawnSync('redis-cli', ['-p', String(redis.port), '--user', 'postbal', '--pass', 's3cret-pw', '--no-auth-warning', 'hvals', 't:facts'], { encoding: 'utf8' }).stdout), 'the drain in the store, written as the ACL user');
    await stopAll([h]);
    assert.doesNotMatch(h.log.text(), /store lost|s3cret/, h.log.text());
    chmodSync(pw, 0o644);
    const open = await runPostbal(['fleet', '-c', cf, '-s', join(dir.dir, 'a.state'), '--log-stderr'], '');
    assert.equal(open.code, 78, open.stderr);
    assert.match(open.stderr, /redis\.pw: mode: expected readable by its owner only \(chmod 600\): it holds a password, got 644/);
    const inUrl = dir.file('b.cf', `{1}smtp0:\nfleet = redis://postbal:s3cret-pw@127.0.0.1:${redis.port}\n`);
    const refused = await runPostbal(['fleet', '-c', inUrl, '-s', join(dir.dir, 'b.state')], '');
    assert.equal(refused.code, 78);
    assert.match(refused.stderr, /b\.cf:2: fleet: expected no password in the URL/);
    assert.doesNotMatch(refused.stderr, /s3cret/, 'the error quotes the password');
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    await redis.kill();
    dir.cleanup();
  }
});

test('fleet: through Sentinel, a failover of the primary mid-run: the agents follow it and a change after it still reaches every host', async (t) => {
  if (redisUnavailable(t, 'fleet with Sentinel')) return;
  const dir = tempDir();
  const [primary, replica, sentinel] = [await freePort(), await freePort(), await freePort()];
  const servers: ChildProcess[] = [];
  const server = async (args: string[], ready: RegExp): Promise<ChildProcess> => {
    // Its own directory: a primary writes its snapshot for a replica there (not in the checkout).
    const c = spawn('redis-server', [...args, '--dir', dir.dir], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir.dir });
    servers.push(c);
    await watchText(c.stdout, c.stderr).waitFor(ready);
    return c;
  };
  try {
    const p = await server(['--port', String(primary), '--bind', '127.0.0.1', '--save', ''], /Ready to accept connections/);
    await server(['--port', String(replica), '--bind', '127.0.0.1', '--save', '', '--replicaof', '127.0.0.1', String(primary)], /MASTER <-> REPLICA sync: Finished/);
    const conf = dir.file('sentinel.conf', `port ${sentinel}\nbind 127.0.0.1\nsentinel monitor pbm 127.0.0.1 ${primary} 1\nsentinel down-after-milliseconds pbm 1000\nsentinel failover-timeout pbm 5000\n`);
    await server([conf, '--sentinel'], /\+monitor master pbm/);
    const hosts = (['hosta', 'hostb'] as const).map((name) => startAgent({
      name,
      cf: dir.file(`${name}.cf`, `{1}smtp0:\n{1}smtp1:\nfleet = redis://127.0.0.1:${primary}\nfleet_sentinel = pbm 127.0.0.1:${sentinel}\nfleet_name = t\nfleet_host = ${name}\n`),
      state: join(dir.dir, `${name}.state`),
    }));
    const [a, b] = hosts as [Host, Host];
    for (const h of hosts) await h.log.waitFor(/joins fleet/);
    assert.equal((await runPostbal(['drain', 'smtp1:', '-c', a.cf, '-s', a.state, '--syslog', 'none'], '')).code, 0);
    await b.log.waitFor(/smtp1:\S* drained by the fleet/);
    p.kill('SIGKILL');
    const addr = (): string => spawnSync('redis-cli', ['-p', String(sentinel), 'sentinel', 'get-master-addr-by-name', 'pbm'], { encoding: 'utf8' }).stdout;
    await waitUntil(() => addr().includes(String(replica)), 'Sentinel promoted the replica');
    assert.equal((await runPostbal(['undrain', 'smtp1:', '-c', b.cf, '-s', b.state, '--syslog', 'none'], '')).code, 0);
    await a.log.waitFor(/smtp1:\S* undrained by the fleet \(decided by hostb\)/);
    process.stdout.write(`# after the failover: ${a.log.text().match(/store lost/g)?.length ?? 0} "store lost" line(s) on hosta\n`);
    await stopAll(hosts);
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    for (const s of servers) s.kill('SIGKILL');
    dir.cleanup();
  }
});

test('fleet: rediss:// with fleet_tls_ca: the agent syncs over TLS; without the CA it refuses the server and says the store is lost', async (t) => {
  if (redisUnavailable(t, 'fleet over TLS')) return;
  const dir = tempDir();
  const port = await freePort();
  let server: ChildProcess | undefined;
  try {
    const ssl = (args: string[]): void => { assert.equal(spawnSync('openssl', args, { cwd: dir.dir, encoding: 'utf8' }).status, 0, `openssl ${args.join(' ')}`); };
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=postbal test CA']);
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost']);
    dir.file('ext', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext']);
    server = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', join(dir.dir, 'srv.pem'), '--tls-key-file', join(dir.dir, 'srv.key'), '--tls-ca-cert-file', join(dir.dir, 'ca.pem'), '--tls-auth-clients', 'no', '--save', '', '--dir', dir.dir], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir.dir });
    await watchText(server.stdout!, server.stderr!).waitFor(/Ready to accept connections/);
    const cf = (name: string, ca: boolean): string => dir.file(`${name}.cf`, `{1}smtp0:\n{1}smtp1:\nfleet = rediss://localhost:${port}\n${ca ? `fleet_tls_ca = ${join(dir.dir, 'ca.pem')}\n` : ''}fleet_name = t\nfleet_host = ${name}\n`);
    const good = startAgent({ name: 'hosta', cf: cf('hosta', true), state: join(dir.dir, 'a.state') });
    const bad = startAgent({ name: 'hostb', cf: cf('hostb', false), state: join(dir.dir, 'b.state') });
    await bad.log.waitFor(/fleet: store lost \(.*(certificate|self.signed)/i);
    assert.equal((await runPostbal(['drain', 'smtp1:', '-c', good.cf, '-s', good.state, '--syslog', 'none'], '')).code, 0);
    const facts = (): string => spawnSync('redis-cli', ['--tls', '--cacert', join(dir.dir, 'ca.pem'), '-h', '127.0.0.1', '-p', String(port), 'hvals', 't:facts'], { encoding: 'utf8' }).stdout;
    await waitUntil(() => /"v":"1"/.test(facts()), 'the drain in the store, over TLS');
    assert.doesNotMatch(good.log.text(), /store lost/, good.log.text());
    await stopAll([good, bad]);
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    server?.kill('SIGKILL');
    dir.cleanup();
  }
});

test('fleet: postbal warmup-stage on one host sets the fleet\'s stage; the others follow', async (t) => {
  if (redisUnavailable(t, 'fleet warm-up stage')) return;
  const dir = tempDir();
  const redis = await startRedis();
  try {
    const [a, b, c] = (await fleetOf(dir, redis, ' warmup=50,100,200')) as [Host, Host, Host];
    const stageOf = async (h: Host): Promise<number> => {
      const st = await runPostbal(['status', '--json', '-c', h.cf, '-s', h.state], '');
      return (JSON.parse(st.stdout) as { warmup: { stage: number }[] }).warmup[0]?.stage ?? 0;
    };
    // Each agent has written the fleet's stage once (a lookup makes the warm-up record).
    for (const h of [a, b, c]) await lookups(h, `s${h.name}`, 3);
    await waitUntil(() => redis.cli('--scan', '--pattern', 't:warm:*') !== '', 'a warm-up count in the store');
    const set = await runPostbal(['warmup-stage', 'smtp2:[127.0.0.1]:2527', '3', '-c', a.cf, '-s', a.state, '--syslog', 'none'], '');
    assert.equal(set.code, 0, set.stderr);
    await a.log.waitFor(/warm-up stage 3 set on this host, now the fleet's/);
    for (const h of [b, c]) {
      await h.log.waitFor(/smtp2:\S*: warm-up stage 3 \(the fleet's; it was 1 here\)/);
      assert.equal(await stageOf(h), 3, `${h.name} shows another stage`);
    }
    assert.equal(await stageOf(a), 3, 'hosta kept the stage it set');
    await stopAll([a, b, c]);
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    await redis.kill();
    dir.cleanup();
  }
});

test('fleet: a state directory others can write: the agent says the state file is not usable (not that the store is lost) and writes nothing there', async (t) => {
  if (redisUnavailable(t, 'fleet with an unsafe state directory')) return;
  const dir = tempDir();
  const redis = await startRedis();
  try {
    const open = join(dir.dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const h = startAgent({ name: 'hosta', cf: dir.file('a.cf', `{1}smtp0:\n{1}smtp1:\nfleet = redis://127.0.0.1:${redis.port}\nfleet_name = t\nfleet_host = hosta\n`), state: join(open, 's.state') });
    await h.log.waitFor(/fleet: the state file \S+ is not usable: .*writable by group or others.*; the fleet's facts wait until it is/);
    await stopAll([h]);
    assert.doesNotMatch(h.log.text(), /store lost/);
    assert.deepEqual(readdirSync(open), [], 'the agent wrote into a directory others can write');
  } finally {
    for (const h of STARTED.splice(0)) h.agent.kill('SIGKILL');
    await redis.kill();
    dir.cleanup();
  }
});
