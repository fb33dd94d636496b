/**
 * rsyslog runs postbal feedback itself (examples/rsyslog-postbal.conf: omprog),
 * against a private rsyslogd: believed lines become decisions in the state,
 * the program runs as the state directory's owner, it is started again when
 * it dies, and lines it does not believe are said in the log at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageUnavailable, run, startRsyslog, stopRsyslog, waitFor } from './lab.js';
import { installPostbalCopy, ROOT } from '../helpers/postbal.js';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

test('rsyslog omprog runs postbal feedback as the state owner, restarts it, and it says what it does not believe within seconds', async (t) => {
  if (packageUnavailable(t, 'rsyslog', '/usr/sbin/rsyslogd')) return;
  if (process.getuid?.() !== 0) {
    t.skip('TEST SKIPPED: needs root (rsyslog runs the program as root; it takes the state owner\'s identity)');
    return;
  }
  const dir = mkdtempSync('/tmp/postbal-omprog-');
  chmodSync(dir, 0o755);
  const nobody = Number(run('id', ['-u', 'nobody']).trim());
  const bin = installPostbalCopy(join(dir, 'app'));
  const cfg = join(dir, 'postbal.cf');
  writeFileSync(cfg, '{3}smtp0:[127.0.0.1]:2525\n{2}smtp1:[127.0.0.1]:2526\n{1}smtp2:[127.0.0.1]:2527\n', { mode: 0o644 });
  mkdirSync(join(dir, 'state'), { mode: 0o700 });
  chownSync(join(dir, 'state'), nobody, nobody);
  const state = join(dir, 'state', 'postbal.state');
  const socket = join(dir, 'log.sock');
  // The shipped example, with this test's socket, program and files.
  const example = readFileSync(join(ROOT, 'examples/rsyslog-postbal.conf'), 'utf8')
    .replace('binary="/usr/local/bin/postbal feedback --config /etc/postfix/postbal.cf"', `binary="${process.execPath} ${bin} feedback --config ${cfg} --state ${state} --mail-owner 0 --syslog unix:${socket}"`);
  assert.match(example, new RegExp(`binary="${process.execPath}`));
  const rsyslog = await startRsyslog(dir, [
    'module(load="imuxsock" SysSock.Use="off")',
    'input(type="imuxsock" Socket="DIR/log.sock" Annotate="on" ParseTrusted="on")',
    '$WorkDirectory DIR',
    example,
    'template(name="t" type="string" string="%syslogtag%%msg%\\n")',
    'if $programname == "postfix" then { action(type="omfile" file="DIR/own.log" template="t") }',
    '',
  ].join('\n'), socket);
  const log = (tag: string, message: string, uid?: number): void => {
    const r = spawnSync('logger', ['-u', socket, '-p', 'mail.info', '-t', tag, message], { env: { PATH }, ...(uid === undefined ? {} : { uid, gid: uid }) });
    assert.equal(r.status, 0);
  };
  const status = (): string => spawnSync(process.execPath, [bin, 'status', '-c', cfg, '-s', state], { encoding: 'utf8' }).stdout;
  const own = (): string => (existsSync(join(dir, 'own.log')) ? readFileSync(join(dir, 'own.log'), 'utf8') : '');
  const feedbackPids = (): number[] => spawnSync('pgrep', ['-f', `${bin} feedback`], { encoding: 'utf8', env: { PATH } }).stdout.split('\n').filter(Boolean).map(Number);
  try {
    const refused = (i: number): string => `A${i}BCDE: to=<u${i}@x.example>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:2527: Connection refused)`;
    for (let i = 0; i < 3; i++) log('postfix-smtp2/smtp', refused(i));
    const down = await waitFor(status, (s) => /smtp2:\S+ .*DOWN/.test(s), 60_000);
    assert.match(down, /smtp2:\S+ .*DOWN/, 'three believed lines: smtp2 down');
    const pids = feedbackPids();
    assert.equal(pids.length, 1, 'one instance (forceSingleInstance)');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pids[0]}/status`, 'utf8'))?.[1]);
    assert.equal(uid, nobody, 'running as the state directory\'s owner, not as rsyslog\'s root');
    // A forged line from another user: said at once, not only at an EOF that never comes.
    log('postfix-smtp1/smtp', refused(9), 65534);
    const said = await waitFor(own, (s) => /not believed/.test(s), 30_000);
    assert.match(said, /postfix\/postbal-feedback\[\d+\]: feedback: a line of "postfix-smtp1\/smtp" not believed: sent by uid 65534, not mail_owner/);
    // Killed: rsyslog starts it again with the next message, and the decisions go on.
    process.kill(pids[0]!, 'SIGKILL');
    const throttled = (i: number): string => `T${i}BCDE: to=<u${i}@remote.example>, relay=mx.remote.example[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (host mx.remote.example[192.0.2.1] said: 421 4.7.0 Try again later)`;
    await waitFor(feedbackPids, (p) => !p.includes(pids[0]!), 10_000);
    // More than the 3 it takes: the message that finds the old program gone may be the one rsyslog drops.
    for (let i = 0; i < 6; i++) log('postfix-smtp1/smtp', throttled(i));
    const after = await waitFor(status, (s) => /smtp1:\S+ +for remote\.example/.test(s), 60_000);
    assert.match(after, /smtp1:\S+ +for remote\.example until/, 'a new instance took over');
    assert.match(after, /smtp2:\S+ .*DOWN/, 'and the first one\'s decision stands');
    assert.notDeepEqual(feedbackPids(), pids);
  } finally {
    await stopRsyslog(rsyslog);
    rmSync(dir, { recursive: true, force: true });
  }
});
