/**
 * The feedback engine's provider sharing and its limits, with the clock
 * passed in: a provider's suspension reaching the domains seen hosted by it
 * (before and after the suspension), never its own subdomains, ended
 * suspensions not carried over, a suspension in force not renewed by more
 * throttling, and probes bringing a transport back only after `probeRise`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FeedbackEngine } from '../../src/feedback/engine.js';
import { DEFAULTS } from '../../src/defaults.js';
import type { Delivery } from '../../src/feedback/types.js';

const at = (domain: string, relayHost: string, status: Delivery['status'] = 'deferred'): Delivery => ({
  queueId: 'Q1', recipient: `u@${domain}`, domain, relayHost, dsn: '4.7.0', status, reason: `host ${relayHost}[192.0.2.7] said: 421 4.7.0 try again later`,
});
const settings = { ...DEFAULTS.feedback, suspendAfter: 2, suspendWindowMs: 60_000, suspendTtlMs: 3_600_000 };

test('engine: a provider\'s suspension reaches domains seen hosted by it, before or after it began; not its subdomains', () => {
  const e = new FeedbackEngine(settings);
  // ymail.com seen hosted by yahoo.com (relay mx.yahoo.com) before the suspension.
  assert.deepEqual(e.observe('smtp1', at('ymail.com', 'mta5.am0.yahoodns.net'), 'ok', 0), []);
  assert.deepEqual(e.observe('smtp1', at('ymail.com', 'mx1.mail.yahoo.com', 'sent'), 'ok', 0), []);
  assert.deepEqual(e.observe('smtp1', at('sub.yahoo.com', 'mx1.mail.yahoo.com', 'sent'), 'ok', 0), [], 'a subdomain is the provider itself');
  assert.deepEqual(e.observe('smtp1', at('yahoo.com', 'mx1.mail.yahoo.com'), 'throttled', 1000), []);
  const events = e.observe('smtp1', at('yahoo.com', 'mx2.mail.yahoo.com'), 'throttled', 2000);
  assert.deepEqual(events.map((x) => [x.kind, x.kind === 'suspend' ? x.destination : '']), [['suspend', 'yahoo.com'], ['suspend', 'ymail.com']]);
  const shared = events[1]!;
  assert.match(shared.kind === 'suspend' ? shared.reason : '', /^hosted by yahoo\.com: /);
  // rocketmail.com first seen hosted by yahoo.com during the suspension: it gets it too, once.
  const later = e.observe('smtp0', at('rocketmail.com', 'mx3.mail.yahoo.com', 'sent'), 'ok', 3000);
  assert.deepEqual(later.map((x) => [x.kind, x.service, x.kind === 'suspend' ? x.destination : '', x.kind === 'suspend' ? x.untilMs : 0]), [['suspend', 'smtp1', 'rocketmail.com', 2000 + 3_600_000]]);
  const first = later[0]!;
  assert.match(first.kind === 'suspend' ? first.reason : '', /^hosted by yahoo\.com, which throttles smtp1$/);
  assert.deepEqual(e.observe('smtp0', at('rocketmail.com', 'mx3.mail.yahoo.com', 'sent'), 'ok', 4000), [], 'known already: nothing new');
  // More throttling while suspended: nothing new.
  assert.deepEqual(e.observe('smtp1', at('yahoo.com', 'mx2.mail.yahoo.com'), 'throttled', 5000), []);
  // After the suspension ended, a newly seen domain is not suspended.
  assert.deepEqual(e.observe('smtp0', at('aol-like.example', 'mx3.mail.yahoo.com', 'sent'), 'ok', 2000 + 3_600_000), []);
});

test('engine: throttling needs suspendAfter within suspendWindow; spread out it does not suspend', () => {
  const e = new FeedbackEngine(settings);
  assert.deepEqual(e.observe('smtp1', at('x.example', 'mx.x.example'), 'throttled', 0), []);
  assert.deepEqual(e.observe('smtp1', at('x.example', 'mx.x.example'), 'throttled', 60_000), [], 'the first is out of the window at its end');
  const s = e.observe('smtp1', at('x.example', 'mx.x.example'), 'throttled', 119_999);
  assert.equal(s.length, 1, 'two within 60 s');
  assert.deepEqual(e.observe('smtp2', at('x.example', 'mx.x.example'), 'throttled', 119_999), [], 'per transport');
});

test('engine: probes bring a transport back after probeRise in a row; a failed probe starts the count again; probes of an up transport say nothing', () => {
  const e = new FeedbackEngine({ ...settings, downAfter: 1, probeRise: 2 }, new Set(['smtp2']));
  const refused: Delivery = { ...at('x.example', '192.0.2.9'), reason: 'connect to 192.0.2.9[192.0.2.9]:25: Connection refused' };
  assert.equal(e.observe('smtp2', refused, 'connection', 0)[0]!.kind, 'down');
  assert.deepEqual(e.down, ['smtp2']);
  assert.deepEqual(e.probed('smtp2', true), []);
  assert.deepEqual(e.probed('smtp2', false), []);
  assert.deepEqual(e.probed('smtp2', true), []);
  assert.deepEqual(e.probed('smtp2', true), [{ kind: 'up', service: 'smtp2', rampMs: settings.rampMs, via: 'probe' }]);
  assert.deepEqual(e.down, []);
  assert.deepEqual(e.probed('smtp2', true), []);
  assert.deepEqual(e.probed('smtp0', true), []);
});
