/**
 * `postbal daemon`, the built binary: many connections at once over TCP and
 * unix sockets, the state shared with spawned instances, SIGHUP, SIGTERM,
 * socket activation (Debian's systemd-socket-activate) with a restart that
 * loses no connection, readiness, socket files, usage errors, and a
 * connection that never reads holding up no other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, netstring, startDaemon, watchText } from '../helpers/daemon.js';
import { service } from '../helpers/policy-service.js';
import { BIN, POOL_321, ROOT, keys, runPostbal, tempDir } from '../helpers/postbal.js';
import { datagramSink, sinkReady } from '../helpers/syslog-sink.js';
import { at, faketimeUnavailable } from '../helpers/faketime.js';
import { freePort } from '../e2e/lab.js';

const POLICY_REQUEST = 'request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@x.example\nrecipient=b@y.example\n\n';

function picks(config: string, state: string): number[] {
  const r = spawnSync(process.execPath, [BIN, '-c', config, '-s', state, 'status', '--json'], { encoding: 'utf8' });
  const s = JSON.parse(r.stdout) as { transports: { picks: number }[] };
  return s.transports.map((t) => t.picks);
}

test('daemon: tcp_table over TCP, socketmap and policy over unix sockets, 12 connections at once; exact shares in the state file', async () => {
  const t = tempDir();
  const svc = await service(() => 'action=DUNNO\n\n');
  try {
    const cfg = t.file('postbal.cf', POOL_321);
    const state = join(t.dir, 'postbal.state');
    const port = await freePort();
    const map = join(t.dir, 'map.sock');
    const pol = join(t.dir, 'policy.sock');
    const d = await startDaemon(['-c', cfg, '--state', state, '--policy-state', join(t.dir, 'policy.state'), '--syslog', 'none',
      '--listen', `tcp:127.0.0.1:${port}`, '--listen', `socketmap:${map}`, '--listen', `policy:${pol}`, '-s', `a=127.0.0.1:${svc.port}`]);
    assert.equal(statSync(map).mode & 0o777, 0o660, 'unix sockets are created 0660');
    const answers: string[] = [];
    await Promise.all(Array.from({ length: 12 }, async (_, c) => {
      const client = await Client.open(c % 2 ? port : map);
      for (let i = 0; i < 50; i++) {
        const key = `k${c}-${i}@example${i % 7}.com`;
        answers.push(c % 2 ? await client.ask(`get ${key}\n`) : await client.askNetstrings(netstring(`postbal ${key}`)));
      }
      await client.close();
    }));
    assert.equal(answers.length, 600);
    for (const a of answers) assert.match(a, /^(200 smtp[012]:\n|\d+:OK smtp[012]:,)$/);
    const policy = await Client.open(pol);
    assert.equal(await policy.ask(POLICY_REQUEST, 1, '\n\n'), 'action=DUNNO\n\n');
    await policy.close();
    assert.equal(await d.stop(), 0);
    assert.deepEqual(picks(cfg, state), [300, 200, 100], 'every pick written at exit, shares exact');
    assert.ok(!existsSync(map) && !existsSync(pol), 'the sockets it created are removed at exit');
    assert.match(d.logs(), /daemon: stopped after 13 connections/);
  } finally {
    await svc.close();
    t.cleanup();
  }
});

test('daemon: beside spawned instances on one state file (a migration), turns taken in sequence stay exact; at once, every pick is counted', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', POOL_321);
    const state = join(t.dir, 'postbal.state');
    const port = await freePort();
    const d = await startDaemon(['-c', cfg, '--state', state, '--syslog', 'none', '--listen', `tcp:127.0.0.1:${port}`]);
    const client = await Client.open(port);
    const total = (): number => picks(cfg, state).reduce((a, b) => a + b, 0);
    for (let round = 0; round < 6; round++) {
      await client.ask(keys(`d${round}-`, 50), 50);
      // The daemon's picks of this round reach the file (write-behind) before the spawned instance asks.
      await until(() => total() === round * 100 + 50);
      const r = await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys(`s${round}-`, 50));
      assert.equal(r.code, 0);
    }
    assert.deepEqual(picks(cfg, state), [300, 200, 100], 'in turns: exact');
    const both = await Promise.all([
      client.ask(keys('x-', 600), 600),
      runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys('y-', 600)),
    ]);
    assert.equal(both[0].split('\n').length - 1, 600);
    await client.close();
    assert.equal(await d.stop(), 0);
    const after = picks(cfg, state);
    assert.equal(after.reduce((a, b) => a + b, 0), 1800, 'at once: no pick lost or counted twice');
    after.forEach((n, i) => assert.ok(Math.abs(n - [900, 600, 300][i]!) <= 3, `transport ${i}: ${n} picks against ${[900, 600, 300][i]}`));
  } finally {
    t.cleanup();
  }
});

test('daemon: SIGHUP re-reads the config; a broken one keeps the running config and says why; fixed, it is used', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', '{1}smtp0:\n');
    const port = await freePort();
    const d = await startDaemon(['-c', cfg, '--state', 'none', '--syslog', 'none', '--listen', `tcp:127.0.0.1:${port}`]);
    const client = await Client.open(port);
    assert.equal(await client.ask('get a@x.example\n'), '200 smtp0:\n');
    writeFileSync(cfg, '{1}smtp0:\nthis is not a line of postbal.cf\n');
    d.child.kill('SIGHUP');
    await d.waitLog(/SIGHUP: configuration .* unusable, the running configuration stays in force/);
    assert.match(d.logs(), /postbal\.cf:2: entry: expected/);
    assert.equal(await client.ask('get b@x.example\n'), '200 smtp0:\n', 'still served by the running config');
    writeFileSync(cfg, '{1}smtp7:\n');
    d.child.kill('SIGHUP');
    await d.waitLog(/SIGHUP: configuration .* reloaded/);
    assert.equal(await client.ask('get c@x.example\n'), '200 smtp7:\n');
    await client.close();
    assert.equal(await d.stop(), 0);
  } finally {
    t.cleanup();
  }
});

test('daemon: a connection that sends without reading holds up no other connection', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', POOL_321);
    const port = await freePort();
    const d = await startDaemon(['-c', cfg, '--state', join(t.dir, 's'), '--syslog', 'none', '--listen', `tcp:127.0.0.1:${port}`]);
    const hog = await Client.open(port);
    hog.socket.pause();
    // 8 MB of requests it never reads the answers of: the daemon stops reading it, nothing more.
    for (let i = 0; i < 20; i++) hog.socket.write(keys(`hog${i}-`, 20_000));
    const other = await Client.open(port);
    for (let i = 0; i < 20; i++) assert.match(await other.ask(`get other${i}@x.example\n`), /^200 smtp[012]:\n$/);
    await other.close();
    hog.socket.destroy();
    assert.equal(await d.stop(), 0);
  } finally {
    t.cleanup();
  }
});

test('daemon: socket files: a stale one is replaced, one in use is refused (69), a file that is not a socket is refused; usage errors exit 64', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', POOL_321);
    const sock = join(t.dir, 'map.sock');
    const first = await startDaemon(['-c', cfg, '--state', 'none', '--syslog', 'none', '--listen', `socketmap:${sock}`]);
    const second = await startDaemon(['-c', cfg, '--state', 'none', '--syslog', 'none', '--listen', `socketmap:${sock}`], { waitServing: false });
    assert.equal(await second.exited, 69);
    assert.match(second.logs(), /another process is listening there/);
    first.child.kill('SIGKILL');
    await first.exited;
    assert.ok(existsSync(sock), 'a killed daemon leaves its socket file');
    const third = await startDaemon(['-c', cfg, '--state', 'none', '--syslog', 'none', '--listen', `socketmap:${sock}`]);
    const c = await Client.open(sock);
    assert.match(await c.askNetstrings(netstring('postbal a@x.example')), /^\d+:OK smtp[012]:,$/);
    await c.close();
    assert.equal(await third.stop(), 0);
    const plain = t.file('plain', 'data');
    const refused = await startDaemon(['-c', cfg, '--state', 'none', '--listen', `tcp:${plain}`], { waitServing: false });
    assert.equal(await refused.exited, 69);
    assert.match(refused.logs(), /exists and is not a socket: not removed/);
    for (const [args, message] of [
      [[], /nothing to listen on/],
      [['--listen', 'smtp:127.0.0.1:25'], /unknown protocol "smtp"/],
      [['--listen', 'tcp:127.0.0.1:99999'], /expected PROTOCOL:ADDRESS/],
      [['--listen', `policy:${join(t.dir, 'p.sock')}`], /a policy listener needs policy services/],
    ] as const) {
      const r = spawnSync(process.execPath, [BIN, 'daemon', '-c', cfg, '--state', 'none', '--syslog', 'none', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  } finally {
    t.cleanup();
  }
});

function haveSocketActivate(): boolean {
  return existsSync('/usr/bin/systemd-socket-activate');
}

test('daemon: socket activation: sockets from systemd-socket-activate matched by address, readiness told, and a restart after kill -9 loses no connection', async (tc) => {
  if (!haveSocketActivate() && process.getuid?.() === 0) spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'systemd'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!haveSocketActivate()) {
    tc.skip('SKIPPED: systemd-socket-activate not installed (Debian package systemd)');
    return;
  }
  const t = tempDir();
  const notify = join(t.dir, 'notify.sock');
  // The datagrams sent to NOTIFY_SOCKET, each a line of this file.
  const notes = join(t.dir, 'notes');
  const sink = datagramSink(notify, true, notes);
  try {
    await sinkReady(sink);
    const cfg = t.file('postbal.cf', POOL_321);
    const map = join(t.dir, 'map.sock');
    const port = await freePort();
    // A supervisor that keeps the sockets while the daemon restarts, as systemd does: each run gets them as fds 3 and 4.
    const daemonCmd = `LISTEN_PID=$$ exec ${process.execPath} ${BIN} daemon -c ${cfg} --state ${join(t.dir, 's')} --syslog none --log-stderr --listen socketmap:${map} --listen tcp:127.0.0.1:${port}`;
    const sup = spawn('systemd-socket-activate', ['-l', map, '-l', `127.0.0.1:${port}`, '-E', `NOTIFY_SOCKET=${notify}`, 'sh', '-c', `while :; do sh -c '${daemonCmd}'; done`], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    // systemd-socket-activate's lines and every daemon run's log, in order.
    const log = watchText(sup.stderr);
    try {
      await log.waitFor(/Listening on 127\.0\.0\.1:\d+ as 4/);
      const c = await Client.open(map);
      assert.match(await c.askNetstrings(netstring('postbal a@x.example')), /^\d+:OK smtp[012]:,$/);
      const serving = await log.waitFor(/postfix\/postbal\[(\d+)\]: info: daemon: serving socketmap on .*map\.sock \(from systemd\), tcp on 127\.0\.0\.1:\d+ \(from systemd\)/);
      await until(() => existsSync(notes) && readFileSync(notes, 'utf8').includes('READY=1'));
      process.kill(Number(serving[1]), 'SIGKILL');
      // While it is down, connections wait in the kernel's queue; the next run answers them.
      const tcp = await Client.open(port);
      assert.equal(await tcp.ask('get b@x.example\n'), '200 smtp1:\n', 'the restarted daemon went on from the written position');
      await tcp.close();
      await c.close();
    } finally {
      process.kill(-sup.pid!, 'SIGKILL');
    }
  } finally {
    sink.kill();
    t.cleanup();
  }
});

test('daemon: examples/postbal.socket and postbal.service pass systemd-analyze verify, and each ListenStream= is a --listen of ExecStart (so the sockets find their protocol)', (tc) => {
  if (!existsSync('/usr/bin/systemd-analyze')) {
    tc.skip('SKIPPED: systemd-analyze not installed (Debian package systemd)');
    return;
  }
  const t = tempDir();
  try {
    const socketUnit = readFileSync(join(ROOT, 'examples', 'postbal.socket'), 'utf8');
    const serviceUnit = readFileSync(join(ROOT, 'examples', 'postbal.service'), 'utf8');
    const streams = [...socketUnit.matchAll(/^ListenStream=(.+)$/gm)].map((m) => m[1]!);
    const exec = /^ExecStart=((?:.*\\\n)*.*)$/m.exec(serviceUnit)![1]!.replace(/\\\n/g, ' ');
    const listens = [...exec.matchAll(/--listen (\w+):(\S+)/g)].map((m) => m[2]!);
    assert.deepEqual(listens.sort(), streams.sort());
    // The binary where this checkout has it; the man page is not installed here.
    writeFileSync(join(t.dir, 'postbal.socket'), socketUnit);
    writeFileSync(join(t.dir, 'postbal.service'), serviceUnit.replace('/usr/local/bin/postbal', BIN).replace(/^Documentation=.*$/m, ''));
    const r = spawnSync('systemd-analyze', ['verify', join(t.dir, 'postbal.service'), join(t.dir, 'postbal.socket')], { encoding: 'utf8' });
    const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
    assert.deepEqual(complaints, [], complaints.join('\n'));
    assert.equal(r.status, 0);
  } finally {
    t.cleanup();
  }
});

test('daemon: a drain typed while it serves holds from its next lookups, and undrain brings the transport back', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', POOL_321);
    const state = join(t.dir, 'postbal.state');
    const port = await freePort();
    const d = await startDaemon(['-c', cfg, '--state', state, '--syslog', 'none', '--listen', `tcp:127.0.0.1:${port}`]);
    const client = await Client.open(port);
    assert.match(await client.ask(keys('before-', 60), 60), /smtp1:/);
    const control = (cmd: string): void => {
      const r = spawnSync(process.execPath, [BIN, '-c', cfg, '-s', state, '--syslog', 'none', cmd, 'smtp1'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    control('drain');
    const during = await client.ask(keys('during-', 120), 120);
    assert.doesNotMatch(during, /smtp1:/, 'no smtp1 while drained');
    control('undrain');
    assert.match(await client.ask(keys('after-', 60), 60), /smtp1:/);
    await client.close();
    assert.equal(await d.stop(), 0);
  } finally {
    t.cleanup();
  }
});

test('daemon: a warm-up cap holds across the daemon and spawned instances asking at once (exactly the cap)', async (tc) => {
  if (faketimeUnavailable(tc, 'DAEMON WARM-UP TEST')) return;
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', '{1}smtp0:\n{1}smtp3: warmup=100,200\n');
    const state = join(t.dir, 'postbal.state');
    const port = await freePort();
    // 23:00: the whole day's cap of 100 is open; 600 keys would give smtp3 300 uncapped.
    const env = { ...at('2026-05-04 23:00:00', 'UTC'), PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const d = await startDaemon(['-c', cfg, '--state', state, '--syslog', 'none', '--listen', `tcp:127.0.0.1:${port}`], { env });
    const clients = await Promise.all([Client.open(port), Client.open(port)]);
    const out = await Promise.all([
      ...clients.map((c, i) => c.ask(keys(`d${i}-`, 150), 150)),
      ...[0, 1].map(async (i) => (await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys(`s${i}-`, 150), { env })).stdout),
    ]);
    const smtp3 = out.reduce((n, o) => n + (o.split('200 smtp3:\n').length - 1), 0);
    assert.equal(smtp3, 100, `exactly the cap across the daemon and 2 spawned instances: ${out.map((o) => o.split('200 smtp3:\n').length - 1).join(' + ')}`);
    await Promise.all(clients.map((c) => c.close()));
    assert.equal(await d.stop(), 0);
  } finally {
    t.cleanup();
  }
});

test('daemon: past --max-connections a connection is closed at once and logged; those open are still served', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('postbal.cf', POOL_321);
    const port = await freePort();
    const d = await startDaemon(['-c', cfg, '--state', 'none', '--syslog', 'none', '--listen', `tcp:127.0.0.1:${port}`, '--max-connections', '2']);
    const open = [await Client.open(port), await Client.open(port)];
    for (const c of open) assert.match(await c.ask('get a@x.example\n'), /^200 smtp[012]:\n$/);
    const third = await Client.open(port);
    await new Promise<void>((resolve) => { if (third.socket.closed) resolve(); else third.socket.once('close', () => resolve()); });
    await d.waitLog(/1 connections to tcp on 127\.0\.0\.1:\d+ closed at once: --max-connections 2 were open/);
    for (const c of open) assert.match(await c.ask('get b@x.example\n'), /^200 smtp[012]:\n$/);
    await Promise.all(open.map((c) => c.close()));
    assert.equal(await d.stop(), 0);
  } finally {
    t.cleanup();
  }
});

/** Waits until `cond` holds, checking every 20 ms: for a state file's content, which raises no event; `guardMs` is a guard against a hang. */
async function until(cond: () => boolean, guardMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > guardMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
