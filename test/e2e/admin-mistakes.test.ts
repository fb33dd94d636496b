/**
 * An administrator's mistakes under a real Postfix: a bad argv for the
 * lookup helper or for postbal policy is named where the administrator looks
 * (mail.log) before the process exits (spawn(8) itself only says "exit
 * status 64"); a typo in the pool file plus `postfix reload` delays no mail.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { PostfixLab, devLogTaken, postfixUnavailable, run, startRsyslog, stopRsyslog, waitFor } from './lab.js';

const POOL = '{3}smtp0:[127.0.0.1]:SINKPORT\n{2}smtp1:[127.0.0.1]:SINKPORT\n{1}smtp2:[127.0.0.1]:SINKPORT\n';

describe('admin mistakes under a real Postfix', () => {
  test('a bad argv= (postbal --confg, postbal policy -s with a bad port) is named in mail.log before the process exits', async (t) => {
    if (postfixUnavailable(t) || devLogTaken(t)) return;
    const dir = mkdtempSync('/tmp/postbal-argv-');
    chmodSync(dir, 0o755);
    const maillog = join(dir, 'maillog');
    const rsyslog = await startRsyslog(dir, [
      'module(load="imuxsock")',
      '$WorkDirectory DIR',
      'mail.* DIR/maillog;RSYSLOG_TraditionalFileFormat',
      '',
    ].join('\n'), '/dev/log');
    const read = (): string => (existsSync(maillog) ? readFileSync(maillog, 'utf8') : '');
    try {
      const lookup = await PostfixLab.start({ mapLines: ['transport_maps = PBMAP'], pool: POOL, postbalArgs: ['--confg', '/etc/postfix/postbal.cf'], syslogFile: maillog });
      try {
        assert.notEqual(lookup.postmap('someone@example.com').code, 0, 'the lookup fails');
        const text = await waitFor(read, (s) => /postfix\/postbal\[\d+\]: .*unknown option '--confg'/.test(s), 60_000);
        assert.match(text, /postfix\/postbal\[\d+\]: .*command line \(argv= in master\.cf\): error: unknown option '--confg' \(Did you mean --config\?\)/);
      } finally {
        lookup.stop();
      }
      const policy = await PostfixLab.start({
        mapLines: ['smtpd_recipient_restrictions = check_policy_service PBPOLICY, permit_mynetworks, reject'],
        pool: POOL, policyArgs: ['-s', 'fwd=127.0.0.1:10040:x'], syslogFile: maillog,
      });
      try {
        const replies = await policy.sendMail([{ from: 'a@lab.test', to: 'b@remote.example' }], { rcptMayFail: true });
        assert.match(replies[0]!, /^451 4\.3\.5/, 'smtpd: server configuration problem');
        const text = await waitFor(read, (s) => /postfix\/postbal-policy\[\d+\]: /.test(s), 60_000);
        assert.match(text, /postfix\/postbal-policy\[\d+\]: .*expected NAME=ADDRESS:PORT\[:PRIO\[:WEIGHT\[:TIMEOUT\]\]\].*got "fwd=127\.0\.0\.1:10040:x"/);
      } finally {
        policy.stop();
      }
    } finally {
      await stopRsyslog(rsyslog);
      rmSync('/dev/log', { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a typo in the pool file plus postfix reload delays no message: new instances serve the last good copy', async (t) => {
    if (postfixUnavailable(t)) return;
    const lab = await PostfixLab.start({ mapLines: ['transport_maps = PBMAP'], pool: POOL });
    try {
      lab.inject(300);
      const before = await lab.waitDelivered(300);
      assert.equal(before.sentTotal, 300);
      assert.ok(existsSync(`${lab.statePath}.last-good.cf`), 'the copy was kept by the first instances');
      const file = join(lab.etc, 'postbal.cf');
      writeFileSync(file, readFileSync(file, 'utf8').replace('{2}smtp1:', '{2x}smtp1:'));
      run('postfix', ['-c', lab.etc, 'reload']);
      assert.equal(lab.control(['check']).code, 78, 'the file is broken');
      lab.inject(300);
      const after = await lab.waitDelivered(600);
      assert.equal(after.sentTotal, 600, 'every message delivered');
      assert.equal(after.deferred, 0, 'none deferred (a broken config answered 400 before: every RCPT 451)');
      for (const n of ['smtp0', 'smtp1', 'smtp2']) assert.ok((after.sent.get(n) ?? 0) > (before.sent.get(n) ?? 0), `${n} kept its share`);
      const status = lab.control(['status']);
      assert.equal(status.code, 78);
      assert.match(status.stdout, /^WARNING: .*postbal\.cf cannot be loaded/);
    } finally {
      lab.stop();
    }
  });

  test('postbal check knows Postfix: a transport master.cf does not run, a wrong bind address or user=, a missing program, each named by its master.cf line', async (t) => {
    if (postfixUnavailable(t)) return;
    const lab = await PostfixLab.start({ mapLines: ['transport_maps = PBMAP'], pool: POOL });
    try {
      const check = (pool: string): { code: number | null; stdout: string; stderr: string } => {
        writeFileSync(join(lab.etc, 'check.cf'), pool, { mode: 0o644 });
        const r = spawnSync(process.execPath, [lab.postbalBin, 'check', '-c', join(lab.etc, 'check.cf'), '-s', lab.statePath, '--postfix-config', lab.etc], { encoding: 'utf8' });
        return { code: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      const good = check('{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n');
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /Postfix: .*master\.cf runs every transport/);
      // The letter O for the digit 0: passes every check of the file, and Postfix would defer its mail.
      const typo = check('{3}smtpO:\n{2}smtp1:\n');
      assert.equal(typo.code, 78);
      assert.match(typo.stderr, /check\.cf:1: transport smtpO: expected a unix service of an smtp or lmtp daemon in .*master\.cf, got none \(there: .*smtp0, smtp1, smtp2/);
      const bind = check('{1}smtp1:[127.0.0.1]:25 source=192.0.2.99\n');
      assert.equal(bind.code, 78);
      assert.match(bind.stderr, /master\.cf:\d+: smtp1: smtp_bind_address is 127\.0\.0\.3, but the pool entry on line 1 says source=192\.0\.2\.99/);
      const name = check('{1}smtp1: syslog_name=out-b\n');
      assert.equal(name.code, 0);
      assert.match(name.stdout, /warning: .*master\.cf:\d+: smtp1: its deliveries are logged as postfix-smtp1\/smtp, postbal feedback looks for out-b\/smtp/);
      // The spawn line: its program gone, and a user= that does not own the state directory.
      const master = join(lab.etc, 'master.cf');
      const original = readFileSync(master, 'utf8');
      writeFileSync(master, original.replace(/user=nobody argv=\S+ \S+/, 'user=postfix argv=/opt/gone/bin/postbal'));
      const spawnLine = check('{1}smtp0:\n');
      assert.equal(spawnLine.code, 78);
      assert.match(spawnLine.stdout, /warning: .*master\.cf:\d+: argv= names \/opt\/gone\/bin\/postbal, which is not there/);
      assert.match(spawnLine.stderr, /master\.cf:\d+: user=postfix: expected the owner of .*state, nobody \(uid \d+\)/);
      writeFileSync(master, original);
      // A pool file outside any Postfix config directory is not checked against one unless asked.
      writeFileSync(join(lab.dir, 'elsewhere.cf'), '{1}smtpO:\n', { mode: 0o644 });
      const elsewhere = spawnSync(process.execPath, [lab.postbalBin, 'check', '-c', join(lab.dir, 'elsewhere.cf')], { encoding: 'utf8' });
      assert.equal(elsewhere.status, 0, elsewhere.stderr);
      // (On a host without /etc/postfix/main.cf postconf itself says why.)
      assert.match(elsewhere.stdout, existsSync('/etc/postfix/main.cf')
        ? /Postfix: not checked \(the pool file is not in \S+; --postfix-config DIR checks it against that instance\)/
        : /Postfix: not checked \(postconf -h config_directory failed: postconf: fatal: open \/etc\/postfix\/main\.cf/);
    } finally {
      lab.stop();
    }
  });
});
