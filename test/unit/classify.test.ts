/**
 * The classifier's patterns on both sides of each of their limits: every
 * reason Postfix writes for a source, a connection and a remote reply, and
 * the near-misses that must not read as them (a reason is partly outsiders'
 * text, so every pattern is anchored and bounded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyDelivery, destinationOf } from '../../src/feedback/classify.js';
import type { Delivery } from '../../src/feedback/types.js';

const d = (reason: string, status: Delivery['status'] = 'deferred', relayHost = 'mx.example.net'): Delivery => ({
  queueId: 'ABC12', recipient: 'u@example.net', domain: 'example.net', relayHost, dsn: '4.0.0', status, reason,
});
const check = (cases: readonly (readonly [string, string])[]): void => {
  for (const [reason, verdict] of cases) assert.equal(classifyDelivery(d(reason)), verdict, JSON.stringify(reason));
};
const H = 'connect to mx.example.net[192.0.2.7]:25: ';

test('classify: the source side, in every form Postfix writes it, and what only looks like it', () => {
  check([
    [`${H}Cannot assign requested address`, 'source'],
    [`${H}Network is unreachable`, 'source'],
    ['connect to mx.example.net:25: Network is unreachable', 'source'],
    ['connect to 192.0.2.7[192.0.2.7]:2525: Cannot assign requested address', 'source'],
    ['connect to [2001:db8::1]:25: Network is unreachable', 'local'],
    ['Cannot assign requested address', 'source'],
    ['bind 192.0.2.10: Cannot assign requested address', 'source'],
    [`${H}bind 192.0.2.10: Address already in use`, 'source'],
    ['bind 192.0.2.10: Permission denied', 'source'],
    // Near misses: each part of the pattern holds.
    ['connect to mx.example.net[192.0.2.7]:25: Cannot assign requested addresses', 'local'],
    ['xconnect to mx.example.net[192.0.2.7]:25: Network is unreachable', 'local'],
    ['connect to mx example[192.0.2.7]:25: Network is unreachable', 'local'],
    ['connect to mx.example.net[192.0.2 .7]:25: Network is unreachable', 'local'],
    [`connect to mx.example.net[${'1'.repeat(64)}]:25: Network is unreachable`, 'source'],
    ['connect to mx.example.net[192.0.2.7]:123456: Network is unreachable', 'local'],
    ['connect to mx.example.net[192.0.2.7]:: Network is unreachable', 'local'],
    ['connect to mx.example.net[192.0.2.7]:25 Network is unreachable', 'local'],
    ['Network is unreachable!', 'local'],
    [' Cannot assign requested address', 'local'],
    ['bind : Permission denied', 'local'],
    ['bind 192.0.2.10 : Permission denied', 'local'],
    [`bind ${'x'.repeat(65)}: Permission denied`, 'local'],
    [`bind 192.0.2.10: ${'a'.repeat(61)}`, 'local'],
    ['bind 192.0.2.10: Permission denied 13', 'local'],
    ['bind 192.0.2.10: ', 'local'],
    ['rebind 192.0.2.10: Permission denied', 'local'],
    ['delivery temporarily suspended: Network is unreachable', 'source'],
    ['delivery temporarily suspended:  Network is unreachable', 'local'],
  ]);
});

test('classify: the next hop unreachable, in every form, and near misses', () => {
  check([
    [`${H}Connection refused`, 'connection'],
    [`${H}Connection timed out`, 'connection'],
    [`${H}No route to host`, 'connection'],
    [`${H}Connection reset by peer`, 'connection'],
    ['connect to mx.example.net:25: Connection refused', 'connection'],
    [`${H}Connection refused.`, 'local'],
    [`${H}connection refused`, 'local'],
    ['connect to mx.example.net[192.0.2.7]:25:Connection refused', 'local'],
    ['lost connection with mx.example.net[192.0.2.7] while receiving the initial server greeting', 'connection'],
    ['lost connection with mx.example.net[192.0.2.7] while performing the EHLO handshake', 'connection'],
    ['lost connection with mx.example.net[192.0.2.7] while sending RCPT TO', 'local'],
    ['lost connection with mx example while performing the EHLO handshake', 'local'],
    ['lost connection with  while performing the EHLO handshake', 'local'],
    ['conversation with mx.example.net[192.0.2.7] timed out while receiving the initial server greeting', 'connection'],
    ['conversation with mx.example.net[192.0.2.7] timed out while sending end of data -- message may be sent more than once', 'local'],
    ['a conversation with mx.example.net[192.0.2.7] timed out while receiving the initial server greeting', 'local'],
  ]);
});

test('classify: only a remote reply can say the remote throttles or knows the mailbox', () => {
  const said = (reply: string): string => `host mx.example.net[192.0.2.7] said: ${reply} (in reply to RCPT TO command)`;
  check([
    [said('421 Service not available'), 'throttled'],
    [said('4210 Service not available'), 'other'],
    [said('450 4.7.1 Client host rejected'), 'throttled'],
    [said('450 4.7.1234 x'), 'other'],
    [said('550 5.7.606 Access denied, banned sending IP'), 'throttled'],
    [said('451 Rate limited'), 'throttled'],
    [said('451 ratelimit hit'), 'throttled'],
    [said('452 Too many recipients'), 'throttled'],
    [said('452 too many concurrent SMTP connections'), 'throttled'],
    [said('421 4.7.0 [TS01] Messages from 192.0.2.10 temporarily deferred'), 'throttled'],
    [said('451 [TS03] All messages from x will be permanently deferred'), 'throttled'],
    [said('451 [TS1] nothing'), 'other'],
    [said('550 S3140 not accepted'), 'throttled'],
    [said('550 XS3140 not accepted'), 'other'],
    [said('554 listed at zen.spamhaus.org'), 'throttled'],
    [said('554 your IP is on our blocklist'), 'throttled'],
    [said('554 poor reputation'), 'throttled'],
    [said('554 see DNSBL'), 'throttled'],
    [said('554 see XDNSBL'), 'other'],
    [said('451 Greylisted, try again in 5 minutes'), 'mailbox'],
    [said('450 please try again in 300 seconds'), 'mailbox'],
    [said('452 4.2.2 Over quota'), 'mailbox'],
    [said('452 overquota'), 'mailbox'],
    [said('452 insufficient system storage'), 'mailbox'],
    [said('550 no such user here'), 'mailbox'],
    [said('550 5.1.1 address does not exist'), 'mailbox'],
    [said('550 5.1.10 x'), 'mailbox'],
    [said('550 5.1.1000 x'), 'other'],
    [said('550 5.3.0 other'), 'other'],
    // The same words in our own reason (not a remote reply) say nothing about the remote.
    ['421 rate limit too many connections 4.7.1 spamhaus', 'local'],
    ['host  said: 421 x', 'local'],
    [`host ${'m'.repeat(301)} said: 421 x`, 'local'],
    [`host ${'m'.repeat(300)} said: 421 x`, 'throttled'],
  ]);
  assert.equal(classifyDelivery(d('whatever', 'sent')), 'ok');
  assert.equal(classifyDelivery(d(said('421 too many'), 'bounced')), 'throttled');
});

test('classify: where a verdict applies: the provider behind the relay, else the recipient domain', () => {
  const at = (relay: string): string => destinationOf(d('x', 'deferred', relay));
  assert.equal(at('mx1.mail.yahoo.com'), 'yahoo.com');
  assert.equal(at('mx.example.co.uk'), 'example.co.uk');
  assert.equal(at('mail.example.com.au'), 'example.com.au');
  assert.equal(at('mx.example.de'), 'example.de', 'a two-letter TLD with a long second label: two labels');
  assert.equal(at('a.b.example.travel'), 'example.travel');
  assert.equal(at('example.uk'), 'example.uk');
  assert.equal(at('none'), 'example.net');
  assert.equal(at(''), 'example.net');
  assert.equal(at('192.0.2.7'), 'example.net');
  assert.equal(at('2001:db8::1'), 'example.net');
  assert.equal(at('localhost'), 'example.net');
  assert.equal(at('mx..example.com'), 'example.com');
});
