/**
 * postbal policy under a real Postfix: smtpd's check_policy_service goes
 * through a spawned `postbal policy` to two policy services (small servers
 * in this test that reject some recipients, each saying who it is). Verdicts
 * are the services'; when the preferred one dies mid-run the other decides,
 * and nothing gets Postfix's 451 while one lives. Skipped loudly (and failed
 * under CI) where Postfix cannot run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { PostfixLab, postfixUnavailable, waitFor } from './lab.js';

/** A policy service that rejects recipients starting with "blocked". */
async function policyService(name: string): Promise<{ port: number; close: () => Promise<void>; asked: () => number }> {
  const sockets = new Set<Socket>();
  let asked = 0;
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const req = buf.slice(0, end);
        buf = buf.slice(end + 2);
        asked++;
        const rcpt = /(?:^|\n)recipient=([^\n]*)/.exec(req)?.[1] ?? '';
        sock.write(rcpt.startsWith('blocked') ? `action=REJECT 5.7.1 blocked by policy ${name}\n\n` : 'action=DUNNO\n\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    asked: () => asked,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

test('postbal policy behind smtpd: the services\' verdicts; the preferred one killed mid-run, the other decides, no 451', { timeout: 300_000 }, async (t) => {
  if (postfixUnavailable(t)) return;
  const a = await policyService('A');
  const b = await policyService('B');
  const lab = await PostfixLab.start({
    mapLines: [
      'transport_maps = inline:{ remote.example=smtp0:[127.0.0.1]:SINKPORT }',
      'smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:PBPORT, permit_mynetworks, reject',
    ],
    pool: '{1}smtp0:[127.0.0.1]:SINKPORT\n',
    policyArgs: ['-s', `a=127.0.0.1:${a.port}:5`, '-s', `b=127.0.0.1:${b.port}:10`, '-d', 'DUNNO'],
  });
  try {
    const batch = (tag: string): { from: string; to: string }[] => Array.from({ length: 20 }, (_, i) => ({ from: 'bulk@lab.test', to: `${i % 4 === 0 ? 'blocked' : 'ok'}-${tag}${i}@remote.example` }));
    const first = await lab.sendMail(batch('a'), { rcptMayFail: true });
    assert.deepEqual(first.filter((r) => r.startsWith('250')).length, 15);
    assert.ok(first.filter((r) => !r.startsWith('250')).every((r) => /^554 5\.7\.1 .*blocked by policy A/.test(r)), first.join('\n'));
    assert.ok(a.asked() >= 20 && b.asked() === 0, `A was asked ${a.asked()}, B ${b.asked()}: the preferred one (priority 5 before 10) decides`);
    await a.close();
    const second = await lab.sendMail(batch('b'), { rcptMayFail: true });
    t.diagnostic(`after A died: ${second.filter((r) => r.startsWith('250')).length} accepted, ${second.filter((r) => r.startsWith('554')).length} rejected by B, ${second.filter((r) => r.startsWith('4')).length} temporary failures`);
    assert.equal(second.filter((r) => r.startsWith('4')).length, 0, 'no 451 while one service lives');
    assert.equal(second.filter((r) => r.startsWith('250')).length, 15);
    assert.ok(second.filter((r) => !r.startsWith('250')).every((r) => /blocked by policy B/.test(r)), second.join('\n'));
    const d = await waitFor(() => lab.delivered(), (x) => x.sentTotal >= 30, 60_000);
    assert.equal(d.sentTotal, 30, 'every accepted message delivered');
  } finally {
    lab.stop();
    await b.close();
  }
});
