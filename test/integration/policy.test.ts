/**
 * `postbal policy` as a child process in front of policy services played by
 * small servers in this test: requests forwarded byte for byte, replies in
 * order, numeric priorities, weights, a dead and a hung service, the default
 * action, and bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { service, closedPort, request } from '../helpers/policy-service.js';
import { spawnSync } from 'node:child_process';
import { BIN, runPostbal } from '../helpers/postbal.js';

test('policy: requests reach the service byte for byte over one connection, replies come back verbatim and in order', async () => {
  const svc = await service((r) => `action=${r.includes('bad@') ? 'reject 5.7.1 no' : 'dunno'}\nextra=kept\n\n`);
  try {
    const input = request('ok@x', 'zzz=last-in-the-alphabet\naaa=\u00ff bytes\n') + request('bad@x') + request('ok2@x');
    const r = await runPostbal(['policy', '-s', `one=127.0.0.1:${svc.port}`, '--syslog', 'none', '--state', 'none'], input);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'action=dunno\nextra=kept\n\naction=reject 5.7.1 no\nextra=kept\n\naction=dunno\nextra=kept\n\n');
    assert.equal(Buffer.concat(svc.received).toString('latin1'), input, 'the bytes Postfix sent, in its order');
    assert.equal(svc.connections(), 1, 'one persistent connection');
  } finally {
    await svc.close();
  }
});

test('policy: priorities are numbers (5 before 10); a dead service fails over; weights share a priority exactly', async () => {
  const five = await service(() => 'action=from-five\n\n');
  const ten = await service(() => 'action=from-ten\n\n');
  const a = await service(() => 'action=a\n\n');
  const b = await service(() => 'action=b\n\n');
  try {
    const r = await runPostbal(['policy', '-s', `ten=127.0.0.1:${ten.port}:10`, '-s', `five=127.0.0.1:${five.port}:5`, '--syslog', 'none', '--state', 'none'], request('x@y'));
    assert.equal(r.stdout, 'action=from-five\n\n', 'hapolicy sorts priorities as strings: "10" before "5"');
    const dead = await closedPort();
    const f = await runPostbal(['policy', '-s', `dead=127.0.0.1:${dead}:1`, '-s', `ten=127.0.0.1:${ten.port}:10`, '--syslog', 'none', '--state', 'none'], request('x@y').repeat(3));
    assert.equal(f.stdout, 'action=from-ten\n\n'.repeat(3));
    const w = await runPostbal(['policy', '-s', `a=127.0.0.1:${a.port}:0:3`, '-s', `b=127.0.0.1:${b.port}:0:1`, '--syslog', 'none', '--state', 'none'], request('x@y').repeat(400));
    const counts = { a: w.stdout.split('action=a\n').length - 1, b: w.stdout.split('action=b\n').length - 1 };
    assert.deepEqual(counts, { a: 300, b: 100 });
  } finally {
    await Promise.all([five, ten, a, b].map((s) => s.close()));
  }
});

test('policy: a hung service costs its timeout three times (the breaker), not on every request; with every service gone, the default action', async () => {
  const hung = await service(() => '', true);
  const good = await service(() => 'action=good\n\n');
  try {
    const r = await runPostbal(['policy', '-s', `hung=127.0.0.1:${hung.port}:0:1:1`, '-s', `good=127.0.0.1:${good.port}:1`, '--syslog', 'none', '--state', 'none'], request('x@y').repeat(50), { timeoutMs: 60_000 });
    assert.equal(r.stdout, 'action=good\n\n'.repeat(50));
    // hapolicy asks it for every request: 50 timeouts, about 50 s.
    assert.equal(hung.connections(), 3, 'asked for 3 requests in a row, then skipped');
    assert.equal(hung.received.map(String).join('').split('\n\n').length - 1, 3);
    const dead = await closedPort();
    const d = await runPostbal(['policy', '-s', `dead=127.0.0.1:${dead}`, '-d', 'defer_if_permit Service temporarily unavailable', '--syslog', 'none', '--state', 'none'], request('x@y').repeat(2));
    assert.equal(d.stdout, 'action=defer_if_permit Service temporarily unavailable\n\n'.repeat(2));
    const dflt = await runPostbal(['policy', '-s', `dead=127.0.0.1:${dead}`, '--syslog', 'none', '--state', 'none'], request('x@y'));
    assert.equal(dflt.stdout, 'action=dunno\n\n', 'hapolicy\'s default: dunno');
  } finally {
    await Promise.all([hung.close(), good.close()]);
  }
});

test('policy: bad input is bounded and answered; a good request after it still gets its answer; EOF mid-request exits 0', async () => {
  const svc = await service(() => 'action=ok\n\n');
  try {
    const huge = `junk=${'x'.repeat(300_000)}\n\n`;
    const input = Buffer.concat([Buffer.from(huge), Buffer.from('no equals sign here\n\u0000nul=1\n\n'), Buffer.from(request('after@x')), Buffer.from('request=smtpd_access_policy\nrecipient=cut')]);
    const r = await runPostbal(['policy', '-s', `one=127.0.0.1:${svc.port}`, '--syslog', 'none', '--state', 'none'], input);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    // The oversized request: the default action, never forwarded; the others are the service's to judge.
    assert.equal(r.stdout, 'action=dunno\n\naction=ok\n\naction=ok\n\n');
    assert.ok(!Buffer.concat(svc.received).includes('xxxxxxxxxx'), 'the oversized request was not forwarded');
    // On a terminal (stdin not a socket) usage errors go to stderr; under spawn(8) to syslog.
    const cli = (...a: string[]) => spawnSync(process.execPath, [BIN, 'policy', ...a], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    const usage = cli('--syslog', 'none');
    assert.equal(usage.status, 64);
    assert.match(usage.stderr, /expected at least one service \(-s NAME=ADDRESS:PORT/);
    const bad = cli('-s', 'one=127.0.0.1:99999', '--syslog', 'none');
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /expected NAME=ADDRESS:PORT\[:PRIO\[:WEIGHT\[:TIMEOUT\]\]\] .*got "one=127\.0\.0\.1:99999"/);
    const underSpawn = await runPostbal(['policy', '--syslog', 'none', '--state', 'none'], '');
    assert.equal(underSpawn.code, 64);
    assert.equal(underSpawn.stderr, '', 'stdin a socket: nothing on stderr');
  } finally {
    await svc.close();
  }
});

test('policy: a dead service fails over to another of the same priority, never straight to the default', async () => {
  const good = await service(() => 'action=from-good\n\n');
  try {
    const dead = await closedPort();
    // The dead one first in the round robin (weight 3 of 4): its requests go to the other member.
    const r = await runPostbal(['policy', '-s', `dead=127.0.0.1:${dead}:5:3`, '-s', `good=127.0.0.1:${good.port}:5:1`, '-d', 'defer_if_permit no service', '--syslog', 'none', '--state', 'none'], request('x@y').repeat(8));
    assert.equal(r.stdout, 'action=from-good\n\n'.repeat(8));
  } finally {
    await good.close();
  }
});
