/**
 * `postbal daemon` under a real Postfix: 100 smtpd processes ask it for
 * their policy verdicts (check_policy_service unix:private/postbal-policy)
 * and trivial-rewrite for transports (socketmap on private/postbal-map), one
 * daemon for every connection.
 *  - Under socket activation (Debian's systemd-socket-activate holds the
 *    sockets, a loop restarts the daemon as systemd would), `kill -9` of the
 *    daemon mid-run: every message delivered, no 4xx to any client, no
 *    message deferred.
 *  - On sockets it opens itself, killed and started again later: mail
 *    waits, in the queue (deferred) or at the sender (a 4xx at RCPT, which
 *    a sending MTA retries); everything accepted is delivered, nothing
 *    bounced.
 * Skipped loudly where Postfix cannot run.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { service } from '../helpers/policy-service.js';
import { startDaemon } from '../helpers/daemon.js';
import { PostfixLab, postfixUnavailable, run, waitFor } from './lab.js';

const MESSAGES = Number(process.env.DAEMON_E2E_MESSAGES ?? 2000);
const POOL = '{3}smtp0:[127.0.0.1]:SINKPORT\n{2}smtp1:[127.0.0.1]:SINKPORT\n{1}smtp2:[127.0.0.1]:SINKPORT\n';
const MAP_LINES = [
  'default_process_limit = 100',
  'transport_maps = PBMAP',
  'smtpd_recipient_restrictions = check_policy_service PBPOLICY, permit_mynetworks, reject',
];

function socketActivateUnavailable(t: TestContext): boolean {
  if (!existsSync('/usr/bin/systemd-socket-activate') && process.getuid?.() === 0) {
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'systemd'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (existsSync('/usr/bin/systemd-socket-activate')) return false;
  t.skip('SKIPPED: systemd-socket-activate (Debian package systemd) is not installed');
  return true;
}

/** NOQUEUE rejects (a 4xx or 5xx to the client) in Postfix's log. */
function rejects(log: string): string[] {
  return log.split('\n').filter((l) => /NOQUEUE: reject/.test(l));
}

test('daemon under Postfix with socket activation: 100 smtpd, policy and transports through one daemon; kill -9 mid-run loses nothing, no 4xx, nothing deferred', { timeout: 600_000 }, async (t) => {
  if (postfixUnavailable(t) || socketActivateUnavailable(t)) return;
  const verdicts = await service(() => 'action=DUNNO\n\n');
  let lab: PostfixLab | undefined;
  let sup: ReturnType<typeof spawn> | undefined;
  try {
    lab = await PostfixLab.start({ mapLines: MAP_LINES, pool: POOL, daemon: true });
    const l = lab;
    const priv = join(l.dir, 'spool', 'private');
    const map = join(priv, 'postbal-map');
    const policy = join(priv, 'postbal-policy');
    const log = join(l.dir, 'daemon.log');
    const cmd = `LISTEN_PID=$$ exec ${process.execPath} ${l.postbalBin} daemon -c ${join(l.etc, 'postbal.cf')} --state ${l.statePath} --policy-state ${join(l.dir, 'state', 'policy.state')} --syslog none --log-stderr --listen socketmap:${map} --listen policy:${policy} -s v=127.0.0.1:${verdicts.port}`;
    sup = spawn('systemd-socket-activate', ['-l', map, '-l', policy, 'sh', '-c', `while :; do sh -c '${cmd}' 2>>${log}; done`], { stdio: 'ignore', detached: true });
    // systemd would create them with SocketUser=postfix, SocketMode=0600 (examples/postbal.socket).
    await waitFor(() => existsSync(map) && existsSync(policy), (x) => x, 30_000);
    const postfix = Number(run('id', ['-u', 'postfix']).trim());
    for (const p of [map, policy]) {
      chownSync(p, postfix, 0);
      chmodSync(p, 0o600);
    }
    const source = l.inject(MESSAGES, { sessions: 100 });
    // Listened for now: smtp-source may be done before the kill below.
    const injected = new Promise((r) => source.once('close', r));
    await waitFor(() => l.delivered().sentTotal, (n) => n >= MESSAGES / 3, 300_000);
    const pid = Number(/postfix\/postbal\[(\d+)\]/.exec(readFileSync(log, 'utf8'))?.[1]);
    process.kill(pid, 'SIGKILL');
    t.diagnostic(`killed the daemon (pid ${pid}) after ${l.delivered().sentTotal} deliveries`);
    await injected;
    const d = await l.waitDelivered(MESSAGES, 300_000);
    const runs = readFileSync(log, 'utf8').split('\n').filter((x) => x.includes('daemon: serving')).length;
    t.diagnostic(`${d.sentTotal} delivered (${[...d.sent].map(([k, v]) => `${k} ${v}`).join(', ')}), ${d.deferred} deferred, ${rejects(l.log()).length} rejected; daemon runs: ${runs}`);
    assert.ok(runs >= 2, 'the daemon was started again after kill -9');
    assert.equal(d.sentTotal, MESSAGES, 'every message delivered');
    assert.equal(d.bounced, 0);
    assert.equal(d.deferred, 0, 'no message had to wait');
    assert.deepEqual(rejects(l.log()), [], 'no client got a 4xx (or 5xx)');
    for (const [name, share] of [['smtp0', 3 / 6], ['smtp1', 2 / 6], ['smtp2', 1 / 6]] as const) {
      const got = (d.sent.get(name) ?? 0) / d.sentTotal;
      assert.ok(Math.abs(got - share) < 0.03, `${name}: ${(got * 100).toFixed(1)}% against ${(share * 100).toFixed(1)}%`);
    }
  } finally {
    if (sup?.pid) {
      try {
        process.kill(-sup.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    lab?.stop();
    await verdicts.close();
  }
});

test('daemon under Postfix on its own sockets: killed, mail waits (deferred in the queue, or a 4xx to the sender) and what was accepted is delivered once it is back; nothing bounced', { timeout: 600_000 }, async (t) => {
  if (postfixUnavailable(t)) return;
  let lab: PostfixLab | undefined;
  try {
    lab = await PostfixLab.start({ mapLines: MAP_LINES.filter((x) => !x.includes('policy')), pool: POOL, daemon: true });
    const l = lab;
    const map = join(l.dir, 'spool', 'private', 'postbal-map');
    const args = ['-c', join(l.etc, 'postbal.cf'), '--state', l.statePath, '--syslog', 'none', '--listen', `socketmap:${map}`, '--socket-owner', 'postfix', '--socket-mode', '0600'];
    const first = await startDaemon(args, { env: { PATH: process.env.PATH ?? '' } });
    const total = Math.min(MESSAGES, 400);
    const source = l.inject(total, { sessions: 20 });
    const injected = new Promise((r) => source.once('close', r));
    await waitFor(() => l.delivered().sentTotal, (n) => n >= total / 4, 300_000);
    first.child.kill('SIGKILL');
    await first.exited;
    // Mail keeps coming while it is away: it waits in the queue.
    let done = false;
    void injected.then(() => { done = true; });
    await waitFor(() => l.delivered().deferred + rejects(l.log()).length, (n) => n > 0 || done, 300_000);
    await injected;
    const second = await startDaemon(args, { env: { PATH: process.env.PATH ?? '' } });
    // What Postfix took in (qmgr's from= line per queued message); the rest got a 4xx at RCPT, which a sender retries.
    // One per queue id: qmgr logs from= again each time a deferred message comes back to the active queue.
    const accepted = new Set(l.log().split('\n').map((x) => /qmgr\[\d+\]: ([0-9A-F]+): from=/.exec(x)?.[1]).filter((id) => id !== undefined)).size;
    const refused = rejects(l.log());
    l.flush();
    const d = await l.waitDelivered(accepted, 300_000);
    t.diagnostic(`${accepted} accepted, ${refused.length} refused with a 4xx while the daemon was away; ${d.sentTotal} delivered, ${d.deferred} deferral lines, ${d.bounced} bounced`);
    assert.equal(d.sentTotal, accepted, 'every message Postfix accepted delivered');
    assert.equal(d.bounced, 0, 'none bounced');
    assert.ok(refused.every((x) => / 4\d\d /.test(x)), `only temporary refusals:\n${refused.slice(0, 3).join('\n')}`);
    assert.ok(d.deferred + refused.length > 0, 'mail waited while the daemon was away');
    assert.equal(await second.stop(), 0);
  } finally {
    lab?.stop();
  }
});
