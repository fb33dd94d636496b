/**
 * One log line judged by feedback (feedback/trust.ts judgeLine): not a
 * pool's service, not believed (no credentials, or not mail_owner's),
 * refused (an address that reads as other fields), or a delivery; the
 * address form asked only for lines with orig_to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeLine } from '../../src/feedback/trust.js';
import type { AddressForm } from '../../src/feedback/delivery.js';

const tags = new Map([['postfix-smtp1/smtp', 'smtp1']]);
const D = 'ABC12: to=<u@gmail.com>, relay=mx.google.com[192.0.2.9]:25, delay=1, delays=0/0/0/1, dsn=4.7.28, status=deferred (host mx.google.com[192.0.2.9] said: 421 4.7.28 rate)';
const owner = () => ({ mailOwnerUid: 107, trustInput: false });

test('judge: other lines, services not in the pool, lines without or with foreign credentials, refused addresses, deliveries', () => {
  let asked = 0;
  const form = (f: AddressForm) => () => { asked++; return f; };
  assert.deepEqual(judgeLine('garbage', tags, false, owner, form('external')), { kind: 'other' });
  assert.deepEqual(judgeLine(`uid=107 pid=1 tag=postfix/smtp msg=${D}`, tags, false, owner, form('external')), { kind: 'other' }, 'a service not in the pool');
  assert.deepEqual(judgeLine('uid=107 pid=1 tag=postfix-smtp1/smtp msg=ABC12: removed', tags, false, owner, form('external')), { kind: 'other' }, 'not a delivery line');
  const plain = judgeLine(`Dec  2 08:00:00 mx postfix-smtp1/smtp[9]: ${D}`, tags, false, owner, form('external'));
  assert.deepEqual(plain, { kind: 'untrusted', why: 'a line of "postfix-smtp1/smtp" not believed: it carries no sender credentials (--trust-input believes such lines)' });
  assert.equal(judgeLine(`Dec  2 08:00:00 mx postfix-smtp1/smtp[9]: ${D}`, tags, true, owner, form('external')).kind, 'delivery', '--trust-input');
  assert.deepEqual(judgeLine(`uid=1000 pid=1 tag=postfix-smtp1/smtp msg=${D}`, tags, false, owner, form('external')), { kind: 'untrusted', why: 'a line of "postfix-smtp1/smtp" not believed: sent by uid 1000, not mail_owner' });
  const ok = judgeLine(`uid=107 pid=1 tag=postfix-smtp1/smtp msg=${D}`, tags, false, owner, form('external'));
  assert.ok(ok.kind === 'delivery');
  assert.deepEqual([ok.service, ok.delivery.domain, ok.delivery.status], ['smtp1', 'gmail.com', 'deferred']);
  assert.equal(asked, 0, 'no orig_to: the form is not asked');
  const quoted = D.replace('to=<u@gmail.com>', 'to=<"a b"@gmail.com>');
  assert.deepEqual(judgeLine(`uid=107 pid=1 tag=postfix-smtp1/smtp msg=${quoted}`, tags, false, owner, form('external')), { kind: 'refused', why: 'a delivery line of "postfix-smtp1/smtp" refused (quoted address): its address could be read as other fields' });
  const rewritten = D.replace('to=<u@gmail.com>', 'to=<u@gmail.com>, orig_to=<alias@example.net>');
  assert.equal(judgeLine(`uid=107 pid=1 tag=postfix-smtp1/smtp msg=${rewritten}`, tags, false, owner, form('external')).kind, 'delivery');
  assert.equal(asked, 1, 'orig_to: the form asked');
  const refused = judgeLine(`uid=107 pid=1 tag=postfix-smtp1/smtp msg=${rewritten}`, tags, false, owner, form('internal'));
  assert.deepEqual(refused, { kind: 'refused', why: 'a delivery line of "postfix-smtp1/smtp" refused (ambiguous): its address could be read as other fields' });
});
