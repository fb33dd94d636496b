/**
 * End to end: a real Postfix delivers mail through postbal, spawned by
 * master.cf as the README says, and we count what Postfix logged as sent per
 * transport. Needs Postfix, smtp-source/smtp-sink and rsyslog: installed from
 * Debian when running as root; otherwise every test here is SKIPPED, loudly
 * (and under CI that is a failure, never a pass).
 */
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PostfixLab, postfixUnavailable, type Delivered } from './lab.js';

const POOL = '{3}smtp0:[127.0.0.1]:SINKPORT\n{2}smtp1:[127.0.0.1]:SINKPORT\n{1}smtp2:[127.0.0.1]:SINKPORT\n';
const WEIGHTS: Record<string, number> = { smtp0: 3, smtp1: 2, smtp2: 1 };
const MESSAGES = 3000;

const skipLoudly = postfixUnavailable;

/** Each transport's share of deliveries, against its weight. */
function shares(d: Delivered): { name: string; got: number; want: number; relErr: number }[] {
  return Object.entries(WEIGHTS).map(([name, w]) => {
    const want = (d.sentTotal * w) / 6;
    const got = d.sent.get(name) ?? 0;
    return { name, got, want, relErr: (got - want) / want };
  });
}

function report(label: string, d: Delivered): string {
  return `${label}: ${d.sentTotal} sent, ${d.bounced} bounced, ${d.deferred} deferred; ${shares(d).map((s) => `${s.name} ${s.got}/${s.want.toFixed(0)} (${(100 * s.relErr).toFixed(2)}%)`).join(', ')}`;
}

describe('real Postfix through postbal', { timeout: 600_000 }, () => {
  /** Delivers MESSAGES through `mapLine`; every one must arrive, each share within `tolerance`. */
  async function deliverAndCheck(t: TestContext, label: string, mapLine: string, tolerance: number): Promise<void> {
    if (skipLoudly(t)) return;
    const lab = await PostfixLab.start({ mapLines: [mapLine], pool: POOL });
    try {
      lab.inject(MESSAGES);
      const d = await lab.waitDelivered(MESSAGES);
      t.diagnostic(report(label, d));
      assert.equal(d.sentTotal, MESSAGES, report(label, d));
      assert.equal(d.bounced, 0);
      for (const s of shares(d)) assert.ok(Math.abs(s.relErr) <= tolerance, `${s.name}: ${s.got} vs ${s.want}`);
    } finally {
      lab.stop();
    }
  }

  test('transport_maps: 3,000 distinct recipients, all delivered, each share within 1% of its weight', (t) =>
    deliverAndCheck(t, 'transport_maps', 'transport_maps = PBMAP', 0.01));

  test('sender_dependent_default_transport_maps, one bulk sender: no systematic bias (each share within 8%)', (t) =>
    deliverAndCheck(t, 'sender_dependent', 'sender_dependent_default_transport_maps = PBMAP', 0.08));

  test('postmap -q through the spawn service, private (socketmap on private/postbal) and tcp_table on 127.0.0.1; keys with a space or % survive the round trip', async (t) => {
    if (skipLoudly(t)) return;
    for (const listen of ['private', 'tcp'] as const) await postmapRoundTrip(listen);
  });

  async function postmapRoundTrip(listen: 'private' | 'tcp'): Promise<void> {
    const lab = await PostfixLab.start({ mapLines: [], pool: POOL, listen });
    try {
      for (const key of ['user@example.com', 'a b@example.com', '100%@example.com', 'Mixed@Remote.EXAMPLE', 'ü@example.com']) {
        const r = lab.postmap(key);
        assert.equal(r.code, 0, `postmap -q ${key}`);
        assert.match(r.out, /^smtp[012]:\[127\.0\.0\.1\]:\d+$/, key);
      }
      // A repeated key gets the same answer (the repeat memo), the next a new pick.
      const first = lab.postmap('twice@example.com').out;
      assert.equal(lab.postmap('twice@example.com').out, first);
      // The wildcard is never answered: not found (postmap exit 1).
      assert.equal(lab.postmap('*').code, 1);
    } finally {
      lab.stop();
    }
  }

  test('postbal logs reach the real syslog daemon as postfix/postbal[PID] at facility mail', async (t) => {
    if (skipLoudly(t)) return;
    let rsyslog: ChildProcess | undefined;
    const dir = mkdtempSync('/tmp/postbal-syslog-');
    const maillog = `${dir}/mail.log`;
    const probe = `syslogprobe-${process.pid}-${Date.now()}@example.com`;
    const lab = await PostfixLab.start({ mapLines: [], pool: POOL, postbalArgs: ['--log-lookups'] });
    try {
      let logFiles: string[];
      if (existsSync('/dev/log')) {
        logFiles = ['/var/log/mail.log', '/var/log/syslog'];
      } else {
        // No syslog daemon: run the real rsyslogd, privately, on /dev/log.
        chmodSync(dir, 0o755);
        writeFileSync(`${dir}/rsyslog.conf`, [
          'module(load="imuxsock")',
          `$WorkDirectory ${dir}`,
          'template(name="withfacility" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")',
          `mail.* ${maillog};withfacility`,
          '',
        ].join('\n'));
        rsyslog = spawn('rsyslogd', ['-n', '-iNONE', '-f', `${dir}/rsyslog.conf`], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
        for (let i = 0; i < 50 && !existsSync('/dev/log'); i++) await sleep(100);
        assert.ok(existsSync('/dev/log'), 'rsyslogd did not create /dev/log');
        logFiles = [maillog];
      }
      assert.match(lab.postmap(probe).out, /^smtp/);
      let found: string | undefined;
      for (let i = 0; i < 50 && !found; i++) {
        await sleep(100);
        for (const f of logFiles) {
          const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
          found = text.split('\n').find((l) => l.includes(probe));
          if (found) break;
        }
      }
      assert.ok(found, `no log line for ${probe} in ${logFiles.join(', ')}`);
      assert.match(found, /postfix\/postbal\[\d+\]: key=<syslogprobe-[^>]+> transport=smtp[012]:\S+ pick/);
      if (rsyslog) assert.match(found, /^mail\.info postfix\/postbal\[\d+\]: /);
    } finally {
      lab.stop();
      if (rsyslog) {
        rsyslog.kill('SIGTERM');
        await new Promise((r) => rsyslog!.once('exit', r));
        rmSync('/dev/log', { force: true });
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGKILL of the spawned postbal processes during a 3,000-message run: nothing lost or bounced', async (t) => {
    if (skipLoudly(t)) return;
    const lab = await PostfixLab.start({ mapLines: ['transport_maps = PBMAP'], pool: POOL });
    try {
      lab.inject(MESSAGES);
      let kills = 0;
      for (let round = 0; round < 8; round++) {
        await sleep(300 + Math.random() * 300);
        for (const pid of lab.postbalPids()) {
          try {
            process.kill(pid, 'SIGKILL');
            kills++;
          } catch {
            // exited meanwhile
          }
        }
      }
      const d = await lab.waitDelivered(MESSAGES);
      t.diagnostic(`${kills} postbal processes killed; ${report('with kills', d)}`);
      assert.ok(kills > 0, 'no postbal process was running to be killed');
      assert.equal(d.sentTotal, MESSAGES, report('with kills', d));
      assert.equal(d.bounced, 0);
    } finally {
      lab.stop();
    }
  });

  after(() => undefined);
});
