/**
 * Reading Postfix's log: the three line forms, delivery lines recorded from a
 * real Postfix, what each says about its transport, and who is believed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseLogLine, MAX_LOG_LINE } from '../../src/feedback/log-line.js';
import { parseDelivery, parseDeliveryLine, tagsOfPool } from '../../src/feedback/delivery.js';
import { classifyDelivery, destinationOf } from '../../src/feedback/classify.js';
import { isTrusted } from '../../src/feedback/trust.js';
import { FeedbackEngine, describeEvent } from '../../src/feedback/engine.js';
import { applyEvent } from '../../src/feedback/apply.js';
import { DEFAULTS } from '../../src/defaults.js';
import { healthFactor } from '../../src/balance/eligibility/health.js';
import { decodeTrouble, emptyTrouble, encodeTrouble } from '../../src/state/trouble-codec.js';
import { crc32 } from '../../src/state/crc32.js';
import { parseConfig } from '../../src/config/parse.js';
import { probeTargetOf, servicesWithFixedNextHop, type ProbeTarget } from '../../src/feedback/probe-target.js';
import { probeSmtp } from '../../src/io/smtp-probe.js';
import { createServer, type Socket } from 'node:net';
import type { Delivery } from '../../src/feedback/types.js';
import { ROOT } from '../helpers/postbal.js';

/** The recorded lab's transports, found by their syslog tags as feedback finds them. */
const RECORDED_TAGS = tagsOfPool(parseConfig('{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n', 'lab.cf').pool.transports);

const recorded = readFileSync(join(ROOT, 'test/fixtures/postfix-maillog.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));

test('feedback: every recorded delivery line is found, with its transport and verdict', () => {
  const verdicts = new Map<string, number>();
  let deliveries = 0;
  for (const line of recorded) {
    const r = parseLogLine(line);
    assert.ok(r, `not parsed: ${line}`);
    assert.equal(r.uid, undefined, 'a plain line carries no credentials');
    const d = parseDelivery(r.message);
    if (!d) {
      assert.doesNotMatch(r.message, /status=/, `a delivery line was missed: ${line}`);
      continue;
    }
    deliveries++;
    const service = RECORDED_TAGS.get(r.tag);
    assert.match(service ?? '', /^smtp[012]$/);
    const key = `${service} ${classifyDelivery(d)}`;
    verdicts.set(key, (verdicts.get(key) ?? 0) + 1);
  }
  assert.equal(deliveries, 38);
  // smtp0 delivered, smtp1's relay answered 421 at RCPT, smtp2's next hop refused connections.
  assert.deepEqual(Object.fromEntries(verdicts), { 'smtp0 ok': 20, 'smtp1 throttled': 12, 'smtp2 connection': 6 });
});

const line = "580B120C6C2: to=<u@Remote.Example>, relay=mx1.mail.yahoo.com[192.0.2.1]:25, delay=0.25, delays=0.18/0.06/0/0, dsn=4.7.0, status=deferred (host mx1.mail.yahoo.com[192.0.2.1] said: 421 4.7.0 [TS04] Messages from 192.0.2.10 temporarily deferred (in reply to MAIL FROM command))";

test('feedback: the three line forms carry the same record; only journald and rsyslog give a uid', () => {
  const plain = parseLogLine(`2026-11-22T11:19:01.266108+00:00 mx postfix-smtp1/smtp[4106]: ${line}`);
  const traditional = parseLogLine(`Nov 22 12:00:36 mx postfix-smtp1/smtp[4106]: ${line}`);
  const journal = parseLogLine(JSON.stringify({ _UID: '102', _PID: '4106', _COMM: 'smtp', SYSLOG_IDENTIFIER: 'postfix-smtp1/smtp', SYSLOG_PID: '4106', MESSAGE: line }));
  const annotated = parseLogLine(`uid=102 pid=4106 tag=postfix-smtp1/smtp[4106]: msg= ${line}`);
  for (const r of [plain, traditional, journal, annotated]) {
    assert.ok(r);
    assert.equal(r.tag, 'postfix-smtp1/smtp');
    assert.equal(r.pid, 4106);
    assert.equal(r.message, line);
  }
  assert.equal(plain!.uid, undefined);
  assert.equal(journal!.uid, 102);
  assert.equal(annotated!.uid, 102);
  // journald's byte-array form of a message that is not UTF-8.
  const bytes = parseLogLine(JSON.stringify({ _UID: '102', SYSLOG_IDENTIFIER: 'postfix-smtp1/smtp', MESSAGE: [...Buffer.from('x\xff', 'latin1')] }));
  assert.equal(bytes?.message, 'x\xff');
  const d = parseDelivery(line)!;
  assert.deepEqual({ ...d }, {
    queueId: '580B120C6C2', recipient: 'u@Remote.Example', domain: 'remote.example', relayHost: 'mx1.mail.yahoo.com',
    dsn: '4.7.0', status: 'deferred', reason: 'host mx1.mail.yahoo.com[192.0.2.1] said: 421 4.7.0 [TS04] Messages from 192.0.2.10 temporarily deferred (in reply to MAIL FROM command)',
  });
  assert.equal(classifyDelivery(d), 'throttled');
  assert.equal(destinationOf(d), 'yahoo.com', 'the provider behind the relay');
});

test('feedback: a forged line is never believed; a plain one only with --trust-input', () => {
  const forgedJournal = parseLogLine(JSON.stringify({ _UID: '65534', SYSLOG_IDENTIFIER: 'postfix-smtp1/smtp', MESSAGE: line }))!;
  const forgedRsyslog = parseLogLine(`uid=65534 pid=4242 tag=postfix-smtp1/smtp[4242]: msg= ${line}`)!;
  const real = parseLogLine(`uid=102 pid=4106 tag=postfix-smtp1/smtp[4106]: msg= ${line}`)!;
  const plain = parseLogLine(`Nov 22 12:00:36 mx postfix-smtp1/smtp[4106]: ${line}`)!;
  const strict = { mailOwnerUid: 102, trustInput: false };
  const lax = { mailOwnerUid: 102, trustInput: true };
  assert.equal(isTrusted(forgedJournal, lax), false);
  assert.equal(isTrusted(forgedRsyslog, lax), false);
  assert.equal(isTrusted(real, strict), true);
  assert.equal(isTrusted(plain, strict), false);
  assert.equal(isTrusted(plain, lax), true);
  assert.equal(isTrusted(real, { mailOwnerUid: undefined, trustInput: true }), false, 'no known mail_owner: no credentialed line passes');
});

const delivery = (status: Delivery['status'], reason: string, relayHost = 'mx.example.net'): Delivery => ({
  queueId: 'ABC12', recipient: 'u@example.net', domain: 'example.net', relayHost, dsn: '4.0.0', status, reason,
});

test('feedback: verdicts by reason: connection trouble, throttling and blocks, mailbox-level replies, our own reasons', () => {
  const cases: [string, string][] = [
    ['connect to 192.0.2.7[192.0.2.7]:25: Connection timed out', 'connection'],
    ['connect to mx.example.net[192.0.2.7]:25: Cannot assign requested address', 'source'],
    ['connect to mx.example.net[192.0.2.7]:25: Network is unreachable', 'source'],
    ['Network is unreachable', 'source'],
    // Anchored at both ends: the start of a known reason followed by anything is not that reason.
    ['Network is unreachable (host mx said: 250 ok)', 'local'],
    ['connect to mx.example.net[192.0.2.7]:25: Connection refused (or so they say)', 'local'],
    ['host mx.example.net[192.0.2.7] said: 554 connect to x[192.0.2.1]:25: Cannot assign requested address', 'other'],
    ['lost connection with mx.example.net[192.0.2.7] while receiving the initial server greeting', 'connection'],
    ['host mx.example.net[192.0.2.7] said: 421 4.7.0 Too many connections (in reply to end of DATA command)', 'throttled'],
    ['host mx.example.net[192.0.2.7] said: 450 4.7.1 Client host rejected: rate limit exceeded (in reply to RCPT TO command)', 'throttled'],
    ['host mx.example.net[192.0.2.7] said: 550 5.7.1 Service unavailable; client [192.0.2.10] blocked using zen.spamhaus.org (in reply to RCPT TO command)', 'throttled'],
    ['host outlook-com.olc.protection.outlook.com[192.0.2.7] said: 550 5.7.1 Unfortunately, messages from [192.0.2.10] weren\'t sent. (S3150) (in reply to MAIL FROM command)', 'throttled'],
    ['host mx.example.net[192.0.2.7] said: 450 4.7.1 <u@example.net>: Recipient address rejected: Greylisted for 300 seconds (in reply to RCPT TO command)', 'mailbox'],
    ['host mx.example.net[192.0.2.7] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)', 'mailbox'],
    ['host mx.example.net[192.0.2.7] said: 550 5.1.1 <u@example.net>: User unknown (in reply to RCPT TO command)', 'mailbox'],
    ['delivery temporarily suspended: connect to 192.0.2.7[192.0.2.7]:25: Connection refused', 'connection'],
    ['delivery temporarily suspended: host mx.example.net[192.0.2.7] said: 421 4.7.0 Try again later', 'throttled'],
    ['Host or domain name not found. Name service error for name=example.net type=MX: Host not found, try again', 'local'],
    ['host mx.example.net[192.0.2.7] said: 451 4.3.0 Temporary local problem (in reply to end of DATA command)', 'other'],
  ];
  for (const [reason, verdict] of cases) assert.equal(classifyDelivery(delivery('deferred', reason)), verdict, reason);
  assert.equal(destinationOf(delivery('deferred', '', 'none')), 'example.net');
  assert.equal(destinationOf(delivery('deferred', '', '192.0.2.7')), 'example.net');
  assert.equal(destinationOf(delivery('deferred', '', 'mx1.example.co.uk')), 'example.co.uk');
});

test('feedback: no input can throw, and oversized lines are skipped (property)', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => {
    const r = parseLogLine(s);
    if (r) parseDelivery(r.message);
    parseDelivery(s);
  }), { numRuns: Number(process.env.FUZZ_RUNS ?? 300) });
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    parseLogLine(JSON.stringify(v));
  }), { numRuns: 200 });
  assert.equal(parseLogLine(`Nov 22 12:00:36 mx postfix-smtp1/smtp[1]: ${'x'.repeat(MAX_LOG_LINE)}`), undefined);
  assert.equal(RECORDED_TAGS.get('postfix/smtp'), undefined);
  assert.equal(RECORDED_TAGS.get('postfix-smtp1/smtpd'), undefined);
});

test('feedback engine: down after 3 consecutive connection failures, once; up at the next delivery that reaches the hop', () => {
  const e = new FeedbackEngine(DEFAULTS.feedback, new Set(['smtp1', 'smtp2']));
  const refused = delivery('deferred', 'connect to 192.0.2.7[192.0.2.7]:25: Connection refused', 'none');
  assert.deepEqual(e.observe('smtp2', refused, 'connection', 0), []);
  assert.deepEqual(e.observe('smtp2', refused, 'connection', 1), []);
  assert.deepEqual(e.observe('smtp2', refused, 'connection', 2).map(describeEvent), ['smtp2: down after 3 connection failures: "connect to 192.0.2.7[192.0.2.7]:25: Connection refused"']);
  assert.deepEqual(e.observe('smtp2', refused, 'connection', 3).map((x) => x.kind), ['failing'], 'down is said once; later failures only push the retry time');
  assert.deepEqual(e.down, ['smtp2']);
  assert.deepEqual(e.observe('smtp2', delivery('sent', '250 2.0.0 Ok'), 'ok', 4).map((x) => x.kind), ['up']);
  // Two failures, a success, two failures: never three in a row. A local reason (DNS) breaks no run.
  for (const v of ['connection', 'connection', 'ok', 'connection', 'connection'] as const) assert.deepEqual(e.observe('smtp1', refused, v, 5), []);
  assert.deepEqual(e.observe('smtp1', refused, 'local', 6), []);
  assert.deepEqual(e.observe('smtp1', refused, 'connection', 7).map((x) => x.kind), ['down']);
});

test('feedback engine: 3 throttling replies within 10 minutes suspend that transport for that destination only, for an hour', () => {
  const e = new FeedbackEngine();
  const yahoo = { ...delivery('deferred', 'host mx1.mail.yahoo.com[192.0.2.1] said: 421 4.7.0 [TS04] temporarily deferred', 'mx1.mail.yahoo.com'), recipient: 'u@yahoo.com', domain: 'yahoo.com' };
  const other = delivery('deferred', 'host mx.example.net[192.0.2.2] said: 421 4.7.0 slow down', 'mx.example.net');
  const min = 60_000;
  assert.deepEqual(e.observe('smtp1', yahoo, 'throttled', 0), []);
  assert.deepEqual(e.observe('smtp1', other, 'throttled', 1 * min), []);
  assert.deepEqual(e.observe('smtp1', yahoo, 'throttled', 11 * min), [], 'the first one has left the window');
  assert.deepEqual(e.observe('smtp0', yahoo, 'throttled', 12 * min), [], 'another transport counts apart');
  const s = e.observe('smtp1', yahoo, 'throttled', 12 * min);
  assert.deepEqual(s, [], 'two within the window so far');
  const t = e.observe('smtp1', yahoo, 'throttled', 13 * min);
  assert.equal(t.length, 1);
  assert.deepEqual({ ...t[0] }, { kind: 'suspend', service: 'smtp1', destination: 'yahoo.com', untilMs: 73 * min, reason: yahoo.reason });
  assert.deepEqual(e.observe('smtp1', yahoo, 'throttled', 14 * min), [], 'not again while suspended');
  assert.deepEqual(e.observe('smtp1', delivery('deferred', 'host mx said: 452 4.2.2 Mailbox full'), 'mailbox', 15 * min), []);
});

test('feedback: lines written by a real rsyslogd with the shipped template carry the sender\'s real uid and pid', () => {
  const lines = readFileSync(join(ROOT, 'test/fixtures/rsyslog-annotated.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  const forged = parseLogLine(lines[0]!)!;
  assert.equal(forged.tag, 'postfix-smtp1/smtp');
  assert.equal(forged.uid, 65534);
  assert.notEqual(forged.pid, 4242, 'the pid the sender wrote in its tag is not taken');
  assert.ok(parseDelivery(forged.message), 'the message is the delivery line as sent');
  assert.equal(isTrusted(forged, { mailOwnerUid: 102, trustInput: true }), false);
  assert.equal(parseLogLine(lines[1]!)!.uid, 0);
});

test('feedback apply: down holds 30 s, each failed trial doubles it up to 5 min; up starts a ramp; suspensions replace, expire and give way', () => {
  const pool = parseConfig('{3}smtp0:\n{2}smtp1:[a]\n{2}smtp1:[b]\n{1}smtp2:\n', 'p.cf').pool;
  let t = emptyTrouble();
  t = applyEvent(t, pool, { kind: 'down', service: 'smtp1', failures: 3, reason: 'x' }, 1000);
  assert.equal(t.health.length, 2, 'both entries of the service');
  assert.ok(t.health.every((h) => h.down && h.retryAtMs === 1000 + DEFAULTS.feedback.holdMs));
  for (const [k, hold] of [[1, 60_000], [2, 120_000], [3, 240_000], [4, 300_000], [5, 300_000]] as const) {
    t = applyEvent(t, pool, { kind: 'failing', service: 'smtp1', failures: 3 + k }, 100_000 * k);
    assert.equal(t.health[0]!.retryAtMs - 100_000 * k, hold, `trial ${k}`);
  }
  t = applyEvent(t, pool, { kind: 'up', service: 'smtp1', rampMs: 60_000, via: 'delivery' }, 600_000);
  assert.ok(t.health.every((h) => !h.down && h.sinceMs === 600_000));
  t = applyEvent(t, pool, { kind: 'suspend', service: 'smtp2', destination: 'yahoo.com', untilMs: 700_000, reason: 'r'.repeat(500) }, 600_000);
  assert.equal(t.suspensions[0]!.reason.length, 400, 'a reply up to 400 bytes is kept whole');
  assert.ok(t.suspensions[0]!.reason.endsWith('...[cut]'), 'a longer one says it was cut');
  assert.equal(decodeTrouble(encodeTrouble(t)).suspensions[0]!.reason, t.suspensions[0]!.reason, 'and the state keeps all of it');
  t = applyEvent(t, pool, { kind: 'suspend', service: 'smtp2', destination: 'yahoo.com', untilMs: 900_000, reason: 'again' }, 650_000);
  assert.deepEqual(t.suspensions.map((s) => [s.destination, s.untilMs]), [['yahoo.com', 900_000]], 'replaced, not doubled');
  // Past the ramp and past the suspension: pruned at the next change.
  t = applyEvent(t, pool, { kind: 'down', service: 'smtp0', failures: 3, reason: 'x' }, 1_000_000);
  assert.deepEqual(t.health.map((h) => h.down), [true]);
  assert.deepEqual(t.suspensions, []);
  assert.deepEqual(decodeTrouble(encodeTrouble(t)), t, 'round trip through the state file region');
  const torn = encodeTrouble(t);
  torn[40] = torn[40]! ^ 0xff;
  assert.deepEqual(decodeTrouble(torn), emptyTrouble(), 'a torn region is no trouble');
});

test('health rule: nothing until the retry time, then a trial share; back up, a ramp from 10% to full over 60 s', () => {
  const h = (down: boolean, sinceMs: number, retryAtMs: number) => ({ id: 1, down, failures: 0, sinceMs, retryAtMs, rampMs: 60_000 });
  assert.equal(healthFactor(h(true, 0, 30_000), 29_999), 0);
  assert.equal(healthFactor(h(true, 0, 30_000), 30_000), 0.1);
  assert.equal(healthFactor(h(false, 100_000, 0), 100_000), 0.1);
  assert.equal(healthFactor(h(false, 100_000, 0), 130_000), 0.5);
  assert.equal(healthFactor(h(false, 100_000, 0), 160_000), 1);
  assert.equal(healthFactor(h(false, 0, 0), 5), 1);
});

test('feedback directives: values with units, rules checked before the built-in ones, and every bad line named', () => {
  const { feedback } = parseConfig([
    'feedback_down_after = 5', 'feedback_hold = 2m', 'feedback_ramp = 90', 'feedback_suspend_ttl = 2h',
    'feedback_rule = throttled /exceeded our sending limit/i', 'feedback_rule = mailbox /421 4\\.7\\.0 TSS04/', '{1}smtp0:',
  ].join('\n'), 'f.cf').pool;
  assert.equal(feedback.downAfter, 5);
  assert.equal(feedback.holdMs, 120_000);
  assert.equal(feedback.rampMs, 90_000);
  assert.equal(feedback.suspendTtlMs, 7_200_000);
  assert.equal(feedback.suspendAfter, DEFAULTS.feedback.suspendAfter, 'defaults for the rest');
  const reply = (text: string): Delivery => delivery('deferred', `host mx.example.net[192.0.2.7] said: ${text}`);
  assert.equal(classifyDelivery(reply('452 You have EXCEEDED our sending limit'), feedback.rules), 'throttled', 'a rule where the built-ins see nothing');
  assert.equal(classifyDelivery(reply('452 You have EXCEEDED our sending limit')), 'other');
  assert.equal(classifyDelivery(reply('421 4.7.0 TSS04 deferred'), feedback.rules), 'mailbox', 'a rule overrides a built-in');
  const engine = new FeedbackEngine(feedback, new Set(['smtp0']));
  const refused = delivery('deferred', 'connect to 192.0.2.7[192.0.2.7]:25: Connection refused', 'none');
  for (let i = 0; i < 4; i++) assert.deepEqual(engine.observe('smtp0', refused, 'connection', i), []);
  assert.equal(engine.observe('smtp0', refused, 'connection', 5)[0]?.kind, 'down', 'down after 5');
  assert.throws(() => parseConfig(['feedback_hold = 3 weeks', 'feedback_down_after = 0', 'feedback_rule = slow /x/', 'feedback_rule = throttled /(/', 'feedback_nope = 1', '{1}smtp0:'].join('\n'), 'g.cf'), (err: Error) => {
    assert.match(err.message, /g\.cf:1: feedback_hold: expected a duration from 1s to 7d, e\.g\. 30s, 10m, 1h, got "3 weeks"/);
    assert.match(err.message, /g\.cf:2: feedback_down_after: expected a whole number from 1 to 100, got "0"/);
    assert.match(err.message, /g\.cf:3: feedback_rule: expected "connection\|throttled\|mailbox \/regex\/"/);
    assert.match(err.message, /g\.cf:4: feedback_rule: expected a valid regular expression/);
    assert.match(err.message, /g\.cf:5: feedback_nope: expected feedback_down_after, /);
    return true;
  });
});

test('probes: a fixed next hop is probed from its source address; rise 2 brings a transport up; a failed probe starts the count again', async () => {
  const entries = parseConfig('{1}smtp0:\n{1}smtp1:[relay.example]:587 source=192.0.2.11\n{1}smtp2:[192.0.2.7]\n{1}smtp3:relay.example\n', 'p.cf').pool.transports;
  assert.deepEqual(entries.map(probeTargetOf), [
    undefined,
    { service: 'smtp1', host: 'relay.example', port: 587, localAddress: '192.0.2.11' },
    { service: 'smtp2', host: '192.0.2.7', port: 25, localAddress: undefined },
    undefined,
  ]);
  assert.throws(() => parseConfig('{1}smtp1:[r]:25 source=not-an-ip\n', 'q.cf'), /q\.cf:1: source: expected an IPv4 or IPv6 address/);
  const e = new FeedbackEngine(DEFAULTS.feedback, new Set(['smtp2']));
  const refused = delivery('deferred', 'connect to 192.0.2.7[192.0.2.7]:25: Connection refused', 'none');
  for (let i = 0; i < 3; i++) e.observe('smtp2', refused, 'connection', i);
  assert.deepEqual(e.probed('smtp2', true), []);
  assert.deepEqual(e.probed('smtp2', false), []);
  assert.deepEqual(e.probed('smtp2', true), []);
  assert.deepEqual(e.probed('smtp2', true).map(describeEvent), ['smtp2: up (its next hop answered probes with 220), ramping to full weight over 60s']);
  assert.deepEqual(e.down, []);
  assert.deepEqual(e.probed('smtp2', true), [], 'not down: nothing to bring up');
  // The probe itself, against servers on this host.
  const serve = (greeting: string | undefined): Promise<{ port: number; close: () => void }> => new Promise((resolve) => {
    const open = new Set<Socket>();
    const server = createServer((sock) => {
      open.add(sock);
      sock.on('error', () => undefined);
      if (greeting !== undefined) sock.write(greeting);
    });
    server.listen(0, '127.0.0.1', () => resolve({
      port: (server.address() as { port: number }).port,
      close: () => {
        for (const c of open) c.destroy();
        server.close();
      },
    }));
  });
  const target = (port: number): ProbeTarget => ({ service: 's', host: '127.0.0.1', port, localAddress: '127.0.0.1' });
  for (const [greeting, ok] of [['220 mx.example ESMTP\r\n', true], ['220-mx.example\r\n220 ok\r\n', true], ['554 go away\r\n', false], [undefined, false]] as const) {
    const s = await serve(greeting);
    try {
      const r = await probeSmtp(target(s.port), 300);
      assert.equal(r.ok, ok, `${String(greeting)}: ${r.detail}`);
    } finally {
      s.close();
    }
  }
  const closed = await serve(undefined);
  closed.close();
  assert.equal((await probeSmtp(target(closed.port), 300)).ok, false);
});

test('feedback finds a transport\'s lines by postfix-SERVICE/smtp, or by the syslog_name its entry gives', () => {
  const pool = parseConfig('{1}smtp0:\n{1}smtp1:[r]:25 syslog_name=out-b\n', 'p.cf').pool;
  assert.deepEqual([...tagsOfPool(pool.transports)], [['postfix-smtp0/smtp', 'smtp0'], ['out-b/smtp', 'smtp1']]);
  assert.throws(() => parseConfig('{1}smtp1: syslog_name=a;b\n', 'q.cf'), /q\.cf:1: syslog_name: expected the transport's master\.cf syslog_name/);
});

test('feedback engine: domains hosted by a provider under other names share its suspension, learned from relay=', () => {
  const e = new FeedbackEngine();
  const at = (domain: string, status: Delivery['status'], reason: string): Delivery => ({
    queueId: 'Q1234', recipient: `u@${domain}`, domain, relayHost: 'mta5.am0.yahoodns.net', dsn: '4.7.0', status, reason,
  });
  // ymail.com is seen delivered through Yahoo's MX before any trouble.
  assert.deepEqual(e.observe('smtp0', at('ymail.com', 'sent', '250 ok'), 'ok', 0), []);
  const throttle = at('yahoo.com', 'deferred', 'host mta5.am0.yahoodns.net[192.0.2.1] said: 421 4.7.0 [TS04] deferred');
  e.observe('smtp1', throttle, 'throttled', 1);
  e.observe('smtp1', throttle, 'throttled', 2);
  const s = e.observe('smtp1', throttle, 'throttled', 3);
  // The provider's name matches no recipient domain by itself: the domains it was seen hosting do.
  assert.deepEqual(s.map((x) => x.kind === 'suspend' ? x.destination : x.kind), ['yahoodns.net', 'ymail.com', 'yahoo.com']);
  // A domain first seen there later joins the suspension in force, for the throttled transport only.
  const later = e.observe('smtp0', at('rocketmail.com', 'sent', '250 ok'), 'ok', 4);
  assert.deepEqual(later.map((x) => x.kind === 'suspend' ? `${x.service} ${x.destination}` : x.kind), ['smtp1 rocketmail.com']);
  assert.deepEqual(e.observe('smtp0', at('rocketmail.com', 'sent', '250 ok'), 'ok', 5), [], 'once');
});

/**
 * The line smtp(8) writes for one delivery attempt. `external` is Postfix's
 * default info_log_address_format: a local part that is no dot-atom is quoted
 * (RFC 5322, `"` and `\` escaped); `internal` writes it bare.
 */
function postfixLine(f: { local: string; domain: string; origLocal?: string; relay: string; dsn: string; status: string; reason: string }, form: 'external' | 'internal'): string {
  const quote = (local: string): string => form === 'internal' || /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/.test(local)
    ? local
    : `"${local.replace(/["\\]/g, (c) => `\\${c}`)}"`;
  const orig = f.origLocal === undefined ? '' : `orig_to=<${quote(f.origLocal)}@${f.domain}>, `;
  return `4F2A120C6C2: to=<${quote(f.local)}@${f.domain}>, ${orig}relay=${f.relay}, delay=1.2, delays=0.1/0/1/0.1, dsn=${f.dsn}, status=${f.status} (${f.reason})`;
}

/** Text an outsider chooses, rich in what separates the fields. */
const crafted = fc.stringMatching(/^[a-z@. ,=()<>"\\:;/0-9-]{0,40}$/).chain((base) => fc.constantFrom(
  base,
  `${base}>, relay=none, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (host mta5.am0.yahoodns.net[1.2.3.4] said: 421 4.7.0 [TS01] Messages from 192.0.2.1 temporarily deferred)`,
  `${base}>, orig_to=<${base}`,
  `v@yahoo.com>, relay=mx.google.com[192.0.2.9]:25, conn_use=2, delay=1, delays=1/0/0/0, dsn=4.7.28, status=deferred (host mx.google.com[192.0.2.9] said: 421-4.7.28 ${base}`,
  `x>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (Network is unreachable) ${base}`,
));

test('feedback: a crafted address or reply text never moves a field of a delivery line (property)', () => {
  const plainLocal = fc.stringMatching(/^[a-z0-9+_=-]{1,20}$/);
  const fields = fc.record({
    local: fc.oneof(crafted, plainLocal),
    origLocal: fc.option(crafted, { nil: undefined }),
    domain: fc.constantFrom('attacker.example', 'gmail.com', 'yahoo.com'),
    relay: fc.constantFrom('none', 'mx.attacker.example[192.0.2.66]:25', '127.0.0.1[127.0.0.1]:12525'),
    dsn: fc.constantFrom('2.0.0', '5.1.1', '4.4.1'),
    status: fc.constantFrom('sent', 'bounced', 'deferred'),
    reason: crafted,
  });
  let believed = 0;
  const runs = Number(process.env.FUZZ_RUNS ?? 2000);
  fc.assert(fc.property(fields, fc.constantFrom<'external' | 'internal'>('external', 'internal'), (f, form) => {
    const d = parseDelivery(postfixLine(f, form), form);
    if (!d) return;
    believed++;
    assert.deepEqual([d.relayHost, d.dsn, d.status, d.reason, d.domain], [f.relay.replace(/\[.*$/, ''), f.dsn, f.status, f.reason, f.domain]);
  }), { numRuns: runs });
  // Plain addresses are believed, whatever the reply, unless the reply itself
  // holds a second reading of the line (then only the remote's own line is refused).
  fc.assert(fc.property(fc.stringMatching(/^[a-z0-9.+_-]{1,20}$/).filter((l) => !/^\.|\.$|\.\./.test(l)), crafted, (local, reason) => {
    const f = { local, domain: 'gmail.com', relay: 'none', dsn: '4.4.1', status: 'deferred', reason };
    const r = parseDeliveryLine(postfixLine(f, 'external'));
    if (r?.kind === 'delivery') assert.equal(r.delivery.reason, reason);
    else assert.ok(r?.why === 'ambiguous' && reason.includes('>, '), JSON.stringify([reason, r]));
    if (!reason.includes('>')) assert.equal(r?.kind, 'delivery', reason);
  }), { numRuns: 1000 });
  assert.ok(believed > runs / 50, `some lines are plain enough to be believed (${believed} of ${runs})`);
});

test('feedback: the attacks seen are refused, counted apart from other lines, in both address forms', () => {
  const yahoo = 'v@yahoo.com>, relay=none, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (host mta5.am0.yahoodns.net[1.2.3.4] said: 421 4.7.0 [TS01] Messages from 192.0.2.1 temporarily deferred';
  const unreachable = 'v@gmail.com>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (Network is unreachable';
  for (const local of [yahoo, unreachable]) {
    for (const form of ['external', 'internal'] as const) {
      const text = postfixLine({ local, domain: 'attacker.example', relay: 'mx.attacker.example[192.0.2.66]:25', dsn: '5.1.1', status: 'bounced', reason: 'host mx.attacker.example[192.0.2.66] said: 550 5.1.1 no such user (in reply to RCPT TO command)' }, form);
      const r = parseDeliveryLine(text);
      assert.equal(r?.kind, 'refused', `${form}: ${text}`);
      assert.equal(parseDelivery(text), undefined);
    }
  }
  // The same with the fake fields in orig_to (a relay client's RCPT TO rewritten by an alias), in both forms.
  for (const form of ['external', 'internal'] as const) {
    const orig = postfixLine({ local: 'u', origLocal: yahoo, domain: 'attacker.example', relay: 'none', dsn: '5.1.1', status: 'bounced', reason: 'x' }, form);
    assert.equal(parseDeliveryLine(orig, form)?.kind, 'refused', form);
  }
  // A rewritten recipient (orig_to) of plain addresses: believed where the log quotes (external,
  // Postfix's default), refused where it does not (internal: it reads as a crafted address too).
  const rewritten = postfixLine({ local: 'u', origLocal: 'alias', domain: 'gmail.com', relay: 'mx.google.com[192.0.2.9]:25', dsn: '4.7.28', status: 'deferred', reason: 'host mx.google.com[192.0.2.9] said: 421 4.7.28 rate limited' }, 'external');
  const believed = parseDeliveryLine(rewritten, 'external');
  assert.ok(believed?.kind === 'delivery', JSON.stringify(believed));
  assert.deepEqual([believed.delivery.recipient, believed.delivery.domain, believed.delivery.relayHost, believed.delivery.status], ['u@gmail.com', 'gmail.com', 'mx.google.com', 'deferred']);
  assert.deepEqual(parseDeliveryLine(rewritten, 'internal'), { kind: 'refused', why: 'ambiguous' });
  // The crafted local part that reads exactly like that line in the internal form is quoted in the external one: refused.
  const forged = postfixLine({ local: 'u@gmail.com>, orig_to=<alias', domain: 'gmail.com', relay: 'mx.google.com[192.0.2.9]:25', dsn: '4.7.28', status: 'deferred', reason: 'x' }, 'external');
  assert.equal(parseDeliveryLine(forged, 'external')?.kind, 'refused');
  // A quoted address with nothing crafted in it is refused too, and said so; a plain one is believed.
  assert.deepEqual(parseDeliveryLine(postfixLine({ local: 'john doe', domain: 'example.net', relay: 'none', dsn: '4.4.1', status: 'deferred', reason: 'x' }, 'external')), { kind: 'refused', why: 'quoted address' });
  assert.equal(parseDeliveryLine(line)?.kind, 'delivery');
  assert.equal(parseDeliveryLine('580B120C6C2: removed'), undefined, 'no delivery line: not refused, just not one');
  // Bounded cost: a line packed with separators is read at once.
  const packed = `ABCDE12: to=<${'>, orig_to=<'.repeat(300)}${'>, relay=x'.repeat(300)}>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (x)`;
  const started = process.hrtime.bigint();
  parseDeliveryLine(packed);
  assert.ok(process.hrtime.bigint() - started < 5_000_000_000n, 'no runaway backtracking');
});

test('feedback engine: a dead destination is not a dead transport; the source side and a fixed next hop are', () => {
  const pool = parseConfig('{1}smtp0:\n{1}smtp1:[relay.example]:25\n{1}smtp2:relay.example\n{1}smtp3:[a]\n{1}smtp3:\n', 'p.cf').pool;
  const fixed = servicesWithFixedNextHop(pool.transports);
  assert.deepEqual([...fixed].sort(), ['smtp1', 'smtp2'], 'smtp3 has an entry that goes to each MX');
  const e = new FeedbackEngine(DEFAULTS.feedback, fixed);
  const refusedAt = (domain: string): Delivery => ({ ...delivery('deferred', `connect to mx.${domain}[192.0.2.7]:25: Connection refused`, 'none'), domain, recipient: `u@${domain}` });
  for (let i = 0; i < 10; i++) assert.deepEqual(e.observe('smtp0', refusedAt(`dead${i}.example`), classifyDelivery(refusedAt(`dead${i}.example`)), i), [], 'MX of the recipient: the destination\'s trouble');
  for (let i = 0; i < 3; i++) e.observe('smtp1', refusedAt('any.example'), 'connection', i);
  assert.deepEqual(e.down, ['smtp1'], 'a fixed next hop that refuses is the transport\'s trouble');
  const gone = delivery('deferred', 'connect to mx.example.net[192.0.2.7]:25: Cannot assign requested address', 'none');
  for (let i = 0; i < 3; i++) e.observe('smtp0', gone, classifyDelivery(gone), i);
  assert.deepEqual(e.down.sort(), ['smtp0', 'smtp1'], 'its source address gone: down, whatever the destination');
});

test('trouble region: a version 1 region (80-byte reasons) written by an older build is still read', () => {
  const b = Buffer.alloc(16_384);
  b.writeUInt32LE(0x31544250, 0); // "PBT1"
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(1, 12);
  b.writeUInt32LE(7, 32);
  b.writeUInt32LE(1, 36);
  b.writeUInt32LE(3, 40);
  b.writeUInt32LE(60_000, 44);
  b.writeDoubleLE(1000, 48);
  b.writeDoubleLE(31_000, 56);
  const s = 32 + 128 * 32;
  b.writeUInt32LE(9, s);
  b.writeDoubleLE(5000, s + 8);
  b.write('yahoo.com', s + 16, 'latin1');
  b.write('x'.repeat(80), s + 80, 'latin1');
  b.writeUInt32LE(crc32(b.subarray(8)), 4);
  const t = decodeTrouble(b);
  assert.deepEqual(t.health, [{ id: 7, down: true, failures: 3, rampMs: 60_000, sinceMs: 1000, retryAtMs: 31_000 }]);
  assert.deepEqual(t.suspensions, [{ id: 9, untilMs: 5000, destination: 'yahoo.com', reason: 'x'.repeat(80) }]);
  b[100] = b[100]! ^ 1;
  assert.deepEqual(decodeTrouble(b), emptyTrouble(), 'its CRC still guards it');
});
