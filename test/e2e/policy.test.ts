/**
 * postbal policy under a real Postfix: smtpd's check_policy_service goes
 * through a spawned `postbal policy` (its state shared by every smtpd's
 * instance) to three policy services: Debian's postfwd and a small test
 * server sharing priority 5 by round robin, another test server at priority
 * 10. All three reject recipients starting with "blocked" and say who they
 * are. Mid-run the test server hangs (accepts, never answers), then postfwd
 * is killed: mail keeps flowing with the same verdicts, nothing is accepted
 * that the policy rejects, no temporary failure while one service lives,
 * every accepted message is delivered. Skipped loudly (and failed under CI)
 * where Postfix or postfwd cannot run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { service } from '../helpers/policy-service.js';
import { PostfixLab, packageUnavailable, postfixUnavailable, waitFor } from './lab.js';
import { POSTFWD, startPostfwd, type Postfwd } from './postfwd.js';

const verdict = (name: string) => (request: string): string => {
  const rcpt = /(?:^|\n)recipient=([^\n]*)/.exec(request)?.[1] ?? '';
  return rcpt.startsWith('blocked') ? `action=REJECT 5.7.1 blocked by policy ${name}\n\n` : 'action=DUNNO\n\n';
};

test('postbal policy behind smtpd, in front of postfwd and two test services: verdicts hold while one hangs and postfwd is killed; no 4xx, all accepted mail delivered', { timeout: 300_000 }, async (t) => {
  if (postfixUnavailable(t)) return;
  if (packageUnavailable(t, 'postfwd', POSTFWD)) return;
  const b = await service(verdict('B'));
  const c = await service(verdict('C'));
  let fwd: Postfwd | undefined;
  let lab: PostfixLab | undefined;
  try {
    fwd = await startPostfwd('/tmp', `id=BLOCKED; recipient=~/^blocked/; action=REJECT 5.7.1 blocked by postfwd\n`);
    lab = await PostfixLab.start({
      mapLines: [
        'transport_maps = inline:{ remote.example=smtp0:[127.0.0.1]:SINKPORT }',
        'smtpd_recipient_restrictions = check_policy_service PBPOLICY, permit_mynetworks, reject',
      ],
      pool: '{1}smtp0:[127.0.0.1]:SINKPORT\n',
      policyArgs: ['-s', `fwd=127.0.0.1:${fwd.port}:5:1:5`, '-s', `b=127.0.0.1:${b.port}:5:1:2`, '-s', `c=127.0.0.1:${c.port}:10`,
        '-d', 'DUNNO', '--state', 'STATEDIR/policy.state'],
    });
    const l = lab;
    const batch = (tag: string): { from: string; to: string }[] => Array.from({ length: 20 }, (_, i) => ({ from: 'bulk@lab.test', to: `${i % 5 === 0 ? 'blocked' : 'ok'}-${tag}${i}@remote.example` }));
    const check = (replies: string[], by: RegExp, phase: string): void => {
      t.diagnostic(`${phase}: ${replies.filter((r) => r.startsWith('250')).length} accepted, ${replies.filter((r) => r.startsWith('5')).length} rejected, ${replies.filter((r) => r.startsWith('4')).length} temporary failures`);
      assert.equal(replies.filter((r) => r.startsWith('4')).length, 0, `${phase}: no temporary failure while one service lives\n${replies.join('\n')}`);
      assert.equal(replies.filter((r) => r.startsWith('250')).length, 16, `${phase}: the ok- recipients accepted`);
      const rejected = replies.filter((r) => !r.startsWith('250'));
      assert.equal(rejected.length, 4, `${phase}: every blocked- recipient rejected (the default action DUNNO would have let them in)`);
      assert.ok(rejected.every((r) => /^554 5\.7\.1 /.test(r) && by.test(r)), `${phase}:\n${rejected.join('\n')}`);
    };
    const first = await l.sendMail(batch('a'), { rcptMayFail: true });
    check(first, /blocked by (postfwd|policy B)/, 'postfwd and B sharing priority 5');
    assert.ok(first.some((r) => /blocked by postfwd/.test(r)) && first.some((r) => /blocked by policy B/.test(r)), 'both services of priority 5 decide, in turn');
    assert.equal(c.answered(), 0, 'priority 10 unused while priority 5 answers');
    b.setHang(true);
    const second = await l.sendMail(batch('b'), { rcptMayFail: true });
    check(second, /blocked by postfwd/, 'B hung');
    fwd.kill();
    const third = await l.sendMail(batch('c'), { rcptMayFail: true });
    check(third, /blocked by policy C/, 'B hung and postfwd killed');
    type Report = { services: { service: string; health: string; answered: number; lastFailure: string | null }[] };
    const status = (): Report => {
      const r = spawnSync(process.execPath, [l.postbalBin, 'status', '--policy', '--json', '--state', join(l.dir, 'state', 'policy.state')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as Report;
    };
    // Each instance adds its counters to the shared state within a second.
    const report = await waitFor(status, (x) => x.services[2]!.answered >= 20, 10_000);
    t.diagnostic(report.services.map((s) => `${s.service}: ${s.health}, ${s.answered} answered, last failure ${s.lastFailure ?? '-'}`).join('; '));
    assert.notEqual(report.services[0]!.health, 'up', 'postfwd, killed, is not up');
    assert.equal(report.services[1]!.lastFailure, 'timeout', 'B hung: its failure was a timeout');
    assert.ok(report.services[2]!.answered >= 20, 'C answered the last batch');
    const d = await waitFor(() => l.delivered(), (x) => x.sentTotal >= 48, 60_000);
    assert.equal(d.sentTotal, 48, 'every accepted message delivered');
  } finally {
    lab?.stop();
    fwd?.kill();
    await Promise.all([b.close(), c.close()]);
  }
});
