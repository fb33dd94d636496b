/**
 * The whole relay of examples/relay/ (test/e2e/relay-lab.ts): HAProxy with
 * the PROXY protocol in front of two Postfix instances' postscreen,
 * `postbal policy` in front of postfwd, `postbal` outbound. Skipped loudly
 * (and failed under CI) where Postfix, HAProxy or postfwd cannot be had.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { smtpSession } from './lab.js';
import { RelayLab, relayUnavailable } from './relay-lab.js';

const why = relayUnavailable();
if (why !== undefined) {
  const msg = `RELAY END-TO-END TESTS SKIPPED: ${why}`;
  process.stderr.write(`\n${'!'.repeat(msg.length)}\n${msg}\n${'!'.repeat(msg.length)}\n`);
}

/** Sends each message in its own session from `client`, retrying one that was not accepted (as a client MTA would). */
async function sendAll(port: number, client: string, messages: { from: string; to: string }[], accepted: Set<string>): Promise<{ retries: number; replies: string[] }> {
  let retries = 0;
  const replies: string[] = [];
  for (const m of messages) {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await smtpSession(port, [m], { rcptMayFail: true, localAddress: client });
        replies.push(r[0]!);
        if (r[0]!.startsWith('250')) accepted.add(m.to);
        break;
      } catch (err) {
        if (attempt >= 20) throw err;
        retries++;
        await sleep(250);
      }
    }
  }
  return { retries, replies };
}

describe('the relay: HAProxy (PROXY protocol) -> postscreen -> postbal policy -> postbal', { timeout: 600_000 }, () => {
  let lab: RelayLab | undefined;
  before(async () => {
    if (why === undefined) lab = await RelayLab.start();
  });
  after(() => lab?.stop());

  const skip = (t: { skip: (m: string) => void }): boolean => {
    if (why === undefined) return false;
    if (process.env.CI) assert.fail(`RELAY TESTS SKIPPED: ${why} (CI must run them)`);
    t.skip(why);
    return true;
  };

  test('postscreen logs the client\'s own address (127.0.0.9), never the balancer\'s, for client sessions', async (t) => {
    if (skip(t) || !lab) return;
    const replies = await smtpSession(lab.smtpPort, [{ from: 'a@lab.test', to: 'who-1@remote.example' }, { from: 'a@lab.test', to: 'who-2@remote.example' }], { localAddress: '127.0.0.9' });
    assert.ok(replies.every((r) => r.startsWith('250')));
    await sleep(300);
    const logs = lab.log(0) + lab.log(1);
    assert.match(logs, /postscreen\[\d+\]: CONNECT from \[127\.0\.0\.9\]:\d+/);
    assert.match(logs, /smtpd\[\d+\]: [0-9A-F]+: client=unknown\[127\.0\.0\.9\]/, 'smtpd, too, sees the client');
    // The only sessions from the balancer's address are HAProxy's own health checks.
    const fromBalancer = logs.split('\n').filter((l) => /smtpd\[\d+\]: [0-9A-F]+: client=.*\[127\.0\.0\.1\]/.test(l));
    assert.deepEqual(fromBalancer, [], 'no message was ever accepted from the balancer\'s address');
  });

  test('not an open relay: a client outside mynetworks is refused for a foreign domain; without send-proxy the same client relays (the hole the PROXY protocol closes)', async (t) => {
    if (skip(t) || !lab) return;
    const world = await smtpSession(lab.smtpPort, [{ from: 'spam@world.test', to: 'victim@foreign.example' }], { rcptMayFail: true, localAddress: '127.0.0.200' });
    assert.match(world[0]!, /^554 5\.7\.1 <victim@foreign\.example>: Relay access denied/);
    const ours = await smtpSession(lab.smtpPort, [{ from: 'a@lab.test', to: 'ours@foreign.example' }], { localAddress: '127.0.0.10' });
    assert.match(ours[0]!, /^250 /, 'a client in mynetworks relays');
    const hole = await smtpSession(lab.holePort, [{ from: 'spam@world.test', to: 'victim2@foreign.example' }], { rcptMayFail: true, localAddress: '127.0.0.200' });
    t.diagnostic(`through HAProxy with send-proxy: ${world[0]}; without: ${hole[0]}`);
    assert.match(hole[0]!, /^250 /, 'without the PROXY protocol the world is HAProxy, in mynetworks: an open relay');
  });

  test('one instance stopped mid-run: HAProxy takes it out, every accepted message is delivered once; started again, it takes connections again; shares 3:2:1 and policy verdicts hold', async (t) => {
    if (skip(t) || !lab) return;
    const l = lab;
    const accepted = new Set<string>();
    const batch = (tag: string, n: number) => Array.from({ length: n }, (_, i) => ({ from: 'bulk@lab.test', to: `${i % 10 === 9 ? 'blocked' : 'run'}-${tag}${i}@remote.example` }));
    const clients = ['127.0.0.9', '127.0.0.11', '127.0.0.12', '127.0.0.13'];
    const wave = async (tag: string, n: number) => {
      const r = await Promise.all(clients.map((c, k) => sendAll(l.smtpPort, c, batch(`${tag}${k}-`, n), accepted)));
      return { retries: r.reduce((s, x) => s + x.retries, 0), replies: r.flatMap((x) => x.replies) };
    };
    const first = await wave('a', 40);
    l.stopInstance(0);
    const during = await wave('b', 40);
    for (let k = 0; k < 40 && l.serverUp('mx1'); k++) await sleep(250);
    assert.equal(l.serverUp('mx1'), false, `HAProxy took mx1 out:\n${l.haproxyLog}`);
    const mx1Before = (l.log(0).match(/CONNECT from \[127\.0\.0\.(9|1[1-3])\]/g) ?? []).length;
    l.startInstance(0);
    for (let k = 0; k < 60 && !l.serverUp('mx1'); k++) await sleep(250);
    assert.equal(l.serverUp('mx1'), true, 'HAProxy put mx1 back');
    const last = await wave('c', 20);
    const mx1After = (l.log(0).match(/CONNECT from \[127\.0\.0\.(9|1[1-3])\]/g) ?? []).length;
    assert.ok(mx1After > mx1Before, `mx1 takes connections again (${mx1Before} -> ${mx1After})`);
    const replies = [...first.replies, ...during.replies, ...last.replies];
    const rejected = replies.filter((r) => r.startsWith('5'));
    assert.equal(replies.filter((r) => r.startsWith('4')).length, 0, 'no temporary failure at RCPT');
    assert.equal(rejected.length, replies.length / 10, 'every blocked- recipient rejected, none other');
    assert.ok(rejected.every((r) => /blocked by postfwd/.test(r)), rejected.join('\n'));
    const d = await (async () => {
      for (let k = 0; k < 240; k++) {
        const x = l.delivered();
        if ([...accepted].every((r) => x.byRecipient.has(r))) return x;
        await sleep(250);
      }
      return l.delivered();
    })();
    const missing = [...accepted].filter((r) => !d.byRecipient.has(r));
    const twice = [...accepted].filter((r) => (d.byRecipient.get(r) ?? 0) > 1);
    t.diagnostic(`${accepted.size} accepted, ${first.retries + during.retries + last.retries} client retries; delivered once each: ${accepted.size - missing.length - twice.length}; by transport ${[...d.byTransport].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    assert.deepEqual(missing, [], 'none lost');
    assert.deepEqual(twice, [], 'none delivered twice');
    const runOnly = [...d.byTransport].reduce((s, [, v]) => s + v, 0);
    for (const [name, w] of [['smtp0', 3], ['smtp1', 2], ['smtp2', 1]] as const) {
      const share = (d.byTransport.get(name) ?? 0) / runOnly;
      assert.ok(Math.abs(share - w / 6) < 0.05, `${name}: ${(100 * share).toFixed(1)}% of deliveries, weight ${w}/6`);
    }
  });
});
