/**
 * Reading a log line (feedback/log-line.ts) and finding a key's destination
 * (balance/eligibility/suspension.ts) on both sides of every limit: the
 * three line forms and their near misses, journald's fields and types, and
 * destinations by domain, parent, case, trailing dot and `@`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LOG_LINE, parseLogLine } from '../../src/feedback/log-line.js';
import { destinationOf, suspensionApplies, suspensionRule } from '../../src/balance/eligibility/suspension.js';

const MSG = 'ABC12: to=<u@example.net>, relay=none, delay=1, dsn=4.4.1, status=deferred (x)';

test('log line: the plain forms (RFC 3339 and traditional), with and without a pid, and near misses', () => {
  assert.deepEqual(parseLogLine(`2026-12-02T08:00:00.123456+01:00 mx postfix/smtp[123]: ${MSG}`), { tag: 'postfix/smtp', pid: 123, uid: undefined, message: MSG });
  assert.deepEqual(parseLogLine(`2026-12-02T08:00:00Z mx postfix/smtp: ${MSG}`), { tag: 'postfix/smtp', pid: undefined, uid: undefined, message: MSG });
  assert.deepEqual(parseLogLine(`Dec  2 08:00:00 mx postfix/smtp[9]: ${MSG}\r`), { tag: 'postfix/smtp', pid: 9, uid: undefined, message: MSG });
  assert.deepEqual(parseLogLine(`Dec 12 08:00:00 mx postfix/smtp[9]: x`)?.message, 'x');
  for (const bad of [
    `x2026-12-02T08:00:00Z mx postfix/smtp[1]: ${MSG}`,
    `2026-12-02T08:00:00 mx postfix/smtp[1]: ${MSG}`,
    `2026-12-02T08:00:00.Z mx postfix/smtp[1]: ${MSG}`,
    `dec  2 08:00:00 mx postfix/smtp[1]: ${MSG}`,
    `Dec  2 08:00 mx postfix/smtp[1]: ${MSG}`,
    `Dec  2 08:00:00 mx postfix/smtp[1] ${MSG}`,
    `Dec  2 08:00:00 mx post:fix[1]: ${MSG}`,
    `Dec  2 08:00:00 mx  postfix/smtp[1]: ${MSG}`,
    '',
  ]) assert.equal(parseLogLine(bad), undefined, bad);
  assert.equal(parseLogLine(`Dec  2 08:00:00 mx postfix/smtp[12345678901]: x`)?.pid, undefined, 'a pid of 11 digits is none');
  assert.equal(parseLogLine(`Dec  2 08:00:00 mx postfix/smtp[1234567890]: x`)?.pid, 1234567890);
});

test('log line: rsyslog with the sender\'s credentials: uid and pid from the kernel, not the tag', () => {
  assert.deepEqual(parseLogLine(`uid=107 pid=55 tag=postfix/smtp[66]: msg= ${MSG}`), { tag: 'postfix/smtp', pid: 55, uid: 107, message: MSG });
  assert.deepEqual(parseLogLine(`uid=107 pid= tag=postfix/smtp[66]: msg=${MSG}`), { tag: 'postfix/smtp', pid: 66, uid: 107, message: MSG });
  assert.deepEqual(parseLogLine(`uid= pid= tag=postfix/smtp msg=x`), { tag: 'postfix/smtp', pid: undefined, uid: undefined, message: 'x' });
  assert.equal(parseLogLine(`uid=107 pid=55 tag=postfix/smtp[66]: msg= ${MSG} trailing`)?.message, `${MSG} trailing`);
  assert.equal(parseLogLine(` uid=107 pid=55 tag=postfix/smtp: msg=x`), undefined);
  assert.equal(parseLogLine(`uid=10a pid=55 tag=postfix/smtp: msg=x`), undefined);
});

test('log line: journald JSON: string fields only, bytes arrays as latin1, SYSLOG_PID before _PID; over the limit skipped', () => {
  const j = (o: object): string => JSON.stringify(o);
  assert.deepEqual(parseLogLine(j({ SYSLOG_IDENTIFIER: 'postfix/smtp', MESSAGE: MSG, SYSLOG_PID: '7', _PID: '8', _UID: '107' })), { tag: 'postfix/smtp', pid: 7, uid: 107, message: MSG });
  assert.equal(parseLogLine(j({ SYSLOG_IDENTIFIER: 'postfix/smtp', MESSAGE: 'x', _PID: '8' }))?.pid, 8);
  assert.equal(parseLogLine(j({ SYSLOG_IDENTIFIER: 'postfix/smtp', MESSAGE: 'x', _PID: 8, _UID: 107 }))?.uid, undefined, 'numbers are not journald strings');
  assert.equal(parseLogLine(j({ SYSLOG_IDENTIFIER: 'postfix/smtp', MESSAGE: [0x41, 0xe9] }))?.message, 'A\u00e9');
  assert.equal(parseLogLine(j({ SYSLOG_IDENTIFIER: 'postfix/smtp', MESSAGE: [0x41, 'x'] })), undefined);
  assert.equal(parseLogLine(j({ SYSLOG_IDENTIFIER: 'postfix/smtp', MESSAGE: 5 })), undefined);
  assert.equal(parseLogLine(j({ SYSLOG_IDENTIFIER: 5, MESSAGE: 'x' })), undefined);
  assert.equal(parseLogLine('{"SYSLOG_IDENTIFIER": "postfix/smtp", "MESSAGE": '), undefined, 'broken JSON');
  assert.equal(parseLogLine('{}'), undefined);
  assert.equal(parseLogLine('null'), undefined);
  const near = `Dec  2 08:00:00 mx postfix/smtp[1]: ${'x'.repeat(MAX_LOG_LINE - 36)}`;
  assert.equal(near.length, MAX_LOG_LINE);
  assert.ok(parseLogLine(near), 'exactly the limit is read');
  assert.equal(parseLogLine(`${near}x`), undefined, 'one byte more is skipped');
});

test('destinations: a key\'s domain or a parent, ASCII case folded, a trailing dot ignored, the part after the last @', () => {
  const m = new Map([['yahoo.com', 1], ['example.net', 1]]);
  assert.equal(destinationOf(m, 'u@yahoo.com'), 'yahoo.com');
  assert.equal(destinationOf(m, 'u@YAHOO.COM.'), 'yahoo.com');
  assert.equal(destinationOf(m, 'u@mail.Yahoo.com'), 'yahoo.com');
  assert.equal(destinationOf(m, 'yahoo.com'), 'yahoo.com', 'a bare domain');
  assert.equal(destinationOf(m, 'sub.yahoo.com'), 'yahoo.com');
  assert.equal(destinationOf(m, 'u@notyahoo.com'), undefined);
  assert.equal(destinationOf(m, 'u@yahoo.co'), undefined);
  assert.equal(destinationOf(m, 'ahoo.com'), undefined, 'shorter than the destination');
  assert.equal(destinationOf(m, 'u@yahoo.com@evil.example'), undefined, 'the domain is after the last @');
  assert.equal(destinationOf(m, 'yahoo.com@evil.example'), undefined);
  assert.equal(destinationOf(m, 'u.yahoo.com@other.example'), undefined, 'a local part that looks like the domain');
  assert.equal(destinationOf(m, 'u@[yahoo.com'), undefined);
  assert.equal(destinationOf(m, 'u@yahoo.com\u00c0'), undefined);
  assert.equal(destinationOf(new Map([['ab', 1]]), 'u@a\u0142'), undefined, 'only A-Z fold');
  assert.equal(destinationOf(new Map([['a[', 1]]), 'u@a{'), undefined, '0x7b is not 0x5b folded');
  assert.equal(destinationOf(new Map([['a@', 1]]), 'u@a`'), undefined, '0x60 is not 0x40 folded');
  assert.equal(destinationOf(new Map([['example.net', 1]]), 'u@EXAMPLE.NET'), 'example.net');
  assert.equal(destinationOf(new Map([['z', 1]]), 'u@Z'), 'z');
  assert.equal(destinationOf(new Map([['a', 1]]), 'u@A'), 'a');
});

test('suspensions: apply to the destination and its subdomains until, not at, their end', () => {
  const s = { id: 1, destination: 'yahoo.com', untilMs: 1000, reason: 'r' };
  assert.equal(suspensionApplies(s, 'yahoo.com', 999), true);
  assert.equal(suspensionApplies(s, 'mx.yahoo.com', 999), true);
  assert.equal(suspensionApplies(s, 'yahoo.com', 1000), false);
  assert.equal(suspensionApplies(s, 'notyahoo.com', 0), false);
  assert.equal(suspensionApplies(s, 'yahoo.com.evil', 0), false);
  assert.equal(suspensionRule.name, 'suspended');
  assert.equal(suspensionRule.automatic, true);
  assert.equal(suspensionRule.factor(0, { flags: 0, suspended: true }, 0), 0);
  assert.equal(suspensionRule.factor(0, { flags: 0 }, 0), 1);
});
