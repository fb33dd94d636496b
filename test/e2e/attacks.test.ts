/**
 * Attacks through what mail carries, against a real Postfix and a real
 * rsyslogd (issue: nothing that mail carries can steer postbal):
 * - crafted addresses (a relay client's RCPT TO, a sender whose message
 *   bounces) make Postfix itself, as mail_owner, log delivery lines that read
 *   as throttling by yahoo.com or Google, or as a dead source address;
 *   feedback reads those credentialed lines and decides nothing from them;
 * - remote text made to split a syslog message: whatever postbal logs
 *   arrives as one mail.* message of postfix/postbal.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { PostfixLab, freePort, packageUnavailable, postfixUnavailable, run, startRsyslog, stopRsyslog, devLogTaken, waitFor } from './lab.js';
import { BIN, ROOT, runPostbal } from '../helpers/postbal.js';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

describe('attacks through what mail carries', () => {
  test('remote text cannot forge or split a syslog message: everything arrives as one mail.* message of postbal\'s own tag (real rsyslogd)', async (t) => {
    if (packageUnavailable(t, 'rsyslog', '/usr/sbin/rsyslogd')) return;
    const dir = mkdtempSync('/tmp/postbal-forge-');
    chmodSync(dir, 0o755);
    const socket = join(dir, 'log.sock');
    const rsyslog = await startRsyslog(dir, [
      'module(load="imuxsock" SysSock.Use="off")',
      'input(type="imuxsock" Socket="DIR/log.sock")',
      '$WorkDirectory DIR',
      'template(name="t" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")',
      '*.* DIR/all.log;t',
      '',
    ].join('\n'), socket);
    try {
      // Replies a remote server could send: past logger's 1 KiB split with a priority after it,
      // line breaks, escapes, NULs, and whatever else a property generator finds.
      const reasons = [
        `${'x'.repeat(900)}<8>FAKE: root filesystem corrupted`,
        `${'y'.repeat(1500)}<8>FAKE: second split`,
        'ok\n<8>FAKE: after a line break',
        'ok\r<8>FAKE: after a CR\u0000nul \u001b[31mred\u001b[0m \u2028ls \u0085nel',
        ...fc.sample(fc.string({ unit: 'binary', maxLength: 2500 }), { numRuns: 40, seed: 17 }),
      ];
      const lines = reasons.map((r, i) => JSON.stringify({
        _UID: '0', SYSLOG_IDENTIFIER: 'postfix-smtp0/smtp', SYSLOG_PID: '4242',
        MESSAGE: `ABCDE${i}: to=<u@d${i}.example>, relay=mx.d${i}.example[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (host mx.d${i}.example[192.0.2.1] said: 421 4.7.0 ${r})`,
      }));
      const cfg = join(dir, 'p.cf');
      writeFileSync(cfg, '{1}smtp0:\n{1}smtp1:\nfeedback_suspend_after = 1\n', { mode: 0o644 });
      const r = await runPostbal(['feedback', '-c', cfg, '-s', 'none', '--syslog', `unix:${socket}`, '--mail-owner', '0'], Buffer.from(`${lines.join('\n')}\n`), { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      // Every message postbal sent: the start, the trust line, one per decision, the summary.
      const expected = reasons.length + 3;
      const got = await waitFor(() => (existsSync(join(dir, 'all.log')) ? readFileSync(join(dir, 'all.log'), 'utf8').split('\n').filter(Boolean) : []), (l) => l.length >= expected, 30_000);
      const foreign = got.filter((l) => !/^mail\.(info|warning|err) postfix\/postbal-feedback\[\d+\]: /.test(l));
      assert.deepEqual(foreign, [], 'every line is a mail.* message of postfix/postbal-feedback');
      assert.equal(got.length, expected, `one syslog message per log message, never split: ${got.map((l) => l.slice(0, 120)).join('\n')}`);
      assert.equal(got.filter((l) => l.includes('suspended for d')).length, reasons.length);
      assert.ok(got.every((l) => Buffer.byteLength(l) < 1100), 'every message bounded');
      assert.ok(got.filter((l) => l.includes('FAKE')).every((l) => l.includes(': suspended for d')), 'the forged text stays inside its own message');
    } finally {
      await stopRsyslog(rsyslog);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('crafted addresses through a real Postfix, its credentialed log fed to feedback: no transport down, no suspension', async (t) => {
    if (postfixUnavailable(t)) return;
    if (devLogTaken(t)) return;
    const dir = mkdtempSync('/tmp/postbal-crafted-');
    chmodSync(dir, 0o755);
    const nobody = Number(run('id', ['-u', 'nobody']).trim());
    const postfixUid = Number(run('id', ['-u', 'postfix']).trim());
    // The shipped rsyslog example, its file in this directory and owned by the user feedback runs as.
    // The shipped example's template and filter, into a file here (its commented file route) rather than omprog.
    const example = readFileSync(join(ROOT, 'examples/rsyslog-postbal.conf'), 'utf8')
      .replace(/action\(type="omprog"[^)]*\)/, 'action(type="omfile" file="DIR/feedback.log" template="postbal-feedback" fileOwner="nobody" fileGroup="nogroup" fileCreateMode="0600")');
    assert.match(example, /omfile" file="DIR\/feedback\.log"/);
    const rsyslog = await startRsyslog(dir, [
      'module(load="imuxsock" SysSock.Annotate="on" SysSock.ParseTrusted="on")',
      '$WorkDirectory DIR',
      example,
      'mail.* DIR/maillog;RSYSLOG_TraditionalFileFormat',
      '',
    ].join('\n'), '/dev/log');
    const pool = '{1}smtp0:[127.0.0.1]:SINKPORT\n{1}smtp1:[127.0.0.1]:SINKPORT\n{1}smtp2:[127.0.0.1]:SINKPORT\nmatch = !bounce.example\n';
    // A second sink that refuses every recipient (5xx): mail to bounce.example bounces after it was accepted.
    const rejectPort = await freePort();
    const rejecting = spawn('smtp-sink', ['-u', 'nobody', '-f', 'rcpt', `127.0.0.1:${rejectPort}`, '100'], { stdio: 'ignore', env: { PATH } });
    const lab = await PostfixLab.start({ mapLines: [`transport_maps = PBMAP, inline:{ { bounce.example = relay:[127.0.0.1]:${rejectPort} } }`], pool, syslogFile: join(dir, 'maillog') });
    try {
      const fake = {
        yahoo: 'v@yahoo.com>, relay=none, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (host mta5.am0.yahoodns.net[1.2.3.4] said: 421 4.7.0 [TS01] Messages from 192.0.2.1 temporarily deferred',
        google: 'v@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.26]:25, delay=1, delays=1/0/0/0, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com[142.250.1.26] said: 421-4.7.28 unusual rate of unsolicited mail',
        source: 'v@example.net>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (Network is unreachable',
      };
      const crafted = (local: string, n: number): string => `"${local}${n}"@attacker.example`;
      const messages: { from: string; to: string }[] = [];
      for (const local of Object.values(fake)) {
        for (let n = 0; n < 3; n++) {
          // A relay client: the crafted address as its recipient.
          messages.push({ from: 'client@lab.test', to: crafted(local, n) });
          // A remote sender whose message bounces: the bounce goes to the crafted address.
          messages.push({ from: crafted(local, n + 10), to: `nobody${n}@bounce.example` });
        }
      }
      // A local user cannot ask the private service at all (the loopback form answers anyone).
      const asNobody = spawnSync('postmap', ['-c', lab.etc, '-q', 'probe@example.com', `socketmap:unix:${lab.dir}/spool/private/postbal:postbal`], { uid: nobody, gid: nobody, encoding: 'utf8', env: { PATH }, cwd: '/' });
      assert.notEqual(asNobody.status, 0, 'nobody got an answer from private/postbal');
      assert.match(asNobody.stderr, /private\/postbal.*(Permission denied|connect)|(Permission denied|connect).*private\/postbal/i, asNobody.stderr);
      assert.equal(asNobody.stdout, '');
      const replies = await lab.sendMail(messages);
      assert.ok(replies.every((r) => r.startsWith('250')), replies.join('\n'));
      const feedbackLog = join(dir, 'feedback.log');
      // 9 relayed and 9 bounces, each delivered once to the sink through a postbal transport.
      const delivered = await waitFor(() => (existsSync(feedbackLog) ? readFileSync(feedbackLog, 'utf8') : ''), (text) => (text.match(/to=<"v@.*status=sent/g) ?? []).length >= 18, 120_000);
      const craftedLines = delivered.split('\n').filter((l) => /to=<"v@.*status=sent/.test(l));
      assert.equal(craftedLines.length, 18, delivered);
      assert.ok(craftedLines.every((l) => l.startsWith(`uid=${postfixUid} `)), 'written by Postfix itself (mail_owner), so every credential check passes');
      const statePath = lab.statePath;
      chownSync(feedbackLog, nobody, nobody);
      const r = spawnSync(process.execPath, [BIN, 'feedback', '-c', join(lab.etc, 'postbal.cf'), '-s', statePath, '--mail-owner', 'postfix', '--log-stderr'], { input: readFileSync(feedbackLog), encoding: 'utf8', env: { PATH } });
      assert.equal(r.status, 0, r.stderr);
      const summary = /end of input: .*/.exec(r.stderr)?.[0] ?? '';
      const refused = Number(/(\d+) refused/.exec(summary)?.[1]);
      assert.ok(refused >= 18, `every crafted line refused: ${summary}`);
      const status = spawnSync(process.execPath, [BIN, 'status', '--json', '-c', join(lab.etc, 'postbal.cf'), '-s', statePath], { encoding: 'utf8' });
      assert.equal(status.status, 0, status.stderr);
      const json = JSON.parse(status.stdout) as { suspensions: unknown[]; transports: { health?: string; down?: boolean }[] };
      assert.deepEqual(json.suspensions, [], 'no suspension for yahoo.com, google.com or anyone');
      assert.ok(json.transports.every((x) => x.down !== true && !/down/i.test(String(x.health ?? ''))), status.stdout);
      t.diagnostic(`${craftedLines.length} crafted lines credentialed as mail_owner; feedback: ${summary}`);
    } finally {
      lab.stop();
      rejecting.kill('SIGKILL');
      await stopRsyslog(rsyslog);
      rmSync('/dev/log', { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
