/**
 * Every postbal.cf directive and entry attribute reaches what it configures,
 * and each limit is tested on both sides with the exact message (file, line,
 * field, expected, received).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse.js';
import { MAX_STAGES } from '../../src/config/limits.js';
import { MAX_PROVIDERS } from '../../src/config/warmup-directives.js';
import { TCP_TABLE_MAX_REPLY_BYTES } from '../../src/protocol/limits.js';

const pool = (text: string) => parseConfig(text, 'p.cf').pool;
const refused = (text: string, message: string): void => {
  assert.throws(() => parseConfig(text, 'p.cf'), (e: Error) => e.message.includes(message), `${JSON.stringify(text)} should say ${message}`);
};

test('config: fallback: none, a transport, a reply at and over the tcp_table limit, twice', () => {
  assert.equal(pool('fallback = none\n{1}smtp0:\n').fallback, undefined);
  assert.equal(pool('fallback = retry:4.3.2 no source\n{1}smtp0:\n').fallback, 'retry:4.3.2 no source');
  refused('fallback = bad value\n{1}smtp0:\n', 'p.cf:1: fallback: expected "none" or a transport:nexthop answered when no transport is available (e.g. "retry:4.3.2 no source IP available" or "smtp:"), got "bad value"');
  refused('fallback = retry:x\nfallback = retry:y\n{1}smtp0:\n', 'p.cf:2: fallback: expected one "fallback" line (line 1 has one already), got a second one');
  refused('fallback = none\nfallback = none\n{1}smtp0:\n', 'p.cf:2: fallback: expected one "fallback" line');
  const fits = `r:${'x'.repeat(TCP_TABLE_MAX_REPLY_BYTES - 7)}`;
  assert.equal(pool(`fallback = ${fits}\n{1}smtp0:\n`).fallback, fits);
  refused(`fallback = ${fits}x\n{1}smtp0:\n`, `fallback: expected a reply of at most ${TCP_TABLE_MAX_REPLY_BYTES} bytes, got ${TCP_TABLE_MAX_REPLY_BYTES + 1} bytes`);
});

test('config: match: patterns split by blanks and commas, exclusions, lines adding up, none refused', () => {
  const s = pool('match = a.example, b.example  !c.example /x/\n{1}smtp0:\n').scope;
  assert.deepEqual(s.include.map((r) => r.kind), ['domain', 'domain', 'regex']);
  assert.deepEqual(s.exclude, [{ kind: 'domain', domain: 'c.example' }]);
  refused('match =\n{1}smtp0:\n', 'p.cf:1: match: expected one or more patterns, got none');
  refused('match = ,\n{1}smtp0:\n', 'p.cf:1: match: expected one or more patterns, got none');
  refused('match = /a/g\n{1}smtp0:\n', 'p.cf:1: match: expected no flags after');
  assert.deepEqual(pool('match = a.example\nmatch = !b.example\n{1}smtp0:\n').scope, { include: [{ kind: 'domain', domain: 'a.example' }], exclude: [{ kind: 'domain', domain: 'b.example' }] }, 'match lines add up');
});

test('config: algorithm: each name, in any case; anything else refused', () => {
  for (const a of ['wrr', 'random', 'sticky']) assert.equal(pool(`algorithm = ${a.toUpperCase()}\n{1}smtp0:\n`).algorithm, a);
  assert.equal(pool('ALGORITHM = sticky\n{1}smtp0:\n').algorithm, 'sticky', 'directive names are case-insensitive');
  refused('algorithm = rr\n{1}smtp0:\n', 'p.cf:1: algorithm: expected wrr, random, sticky, got "rr"');
});

test('config: entry attributes: priority 0-9999, warm-up stages 1-999999999 and at most MAX_STAGES, source and syslog_name; near misses', () => {
  assert.equal(pool('{1}smtp0: priority=9999\n').transports[0]!.priority, 9999);
  assert.equal(pool('{1}smtp0:\n').transports[0]!.priority, 0);
  refused('{1}smtp0: priority=10000\n', 'p.cf:1: priority: expected "priority=N" with N from 0 (preferred, the default) to 9999, "warmup=CAP,CAP,…", "rate=N/PERIOD", "source=ADDRESS" or "syslog_name=NAME", got "priority=10000"');
  refused('{1}smtp0: priority=-1\n', 'p.cf:1: priority: expected');
  refused('{1}smtp0: bogus=1\n', 'p.cf:1: attribute: expected "priority=N"');
  assert.deepEqual(pool('{1}smtp0: warmup=1,999999999\n').transports[0]!.warmup, [1, 999_999_999]);
  assert.deepEqual(pool(`{1}smtp0: warmup=${new Array(MAX_STAGES).fill(5).join(',')}\n`).transports[0]!.warmup!.length, MAX_STAGES);
  const expected = 'warmup: expected day caps of stage 1, 2, … as whole numbers from 1 to 999999999, comma-separated, at most 64 (e.g. warmup=200,500,1000,2000)';
  for (const bad of ['1000000000', '0', '1,,2', '1.5', 'x', '', new Array(MAX_STAGES + 1).fill(5).join(',')]) refused(`{1}smtp0: warmup=${bad}\n`, `p.cf:1: ${expected}`);
  assert.deepEqual(pool('{ 2 } smtp0:x\n').transports.map((t) => [t.value, t.weight]), [['smtp0:x', 2]]);
  refused('{2x}smtp0:\n', 'p.cf:1: weight: expected an integer from 1 to 1000000, got "2x"');
  refused('{1}sm tp0:\n', 'p.cf:1: transport: expected a master.cf service name followed by ":" and an optional nexthop (e.g. "smtp1:[relay.example]:25"), got "sm"');
  refused('{1}:x\n', 'p.cf:1: transport: expected a master.cf service name');
  refused('{1}smtp0\n', 'p.cf:1: transport: expected a master.cf service name');
  const fits = `s:${'x'.repeat(TCP_TABLE_MAX_REPLY_BYTES - 7)}`;
  assert.equal(pool(`{1}${fits}\n`).transports[0]!.value, fits);
  refused(`{1}${fits}x\n`, `p.cf:1: transport: expected a reply of at most ${TCP_TABLE_MAX_REPLY_BYTES} bytes`);
  refused(`{1}smtp0: ${'z'.repeat(100)}\n`, '...');
});

test('config: warmup_provider: domains lower-cased without a trailing dot, split by blanks and commas; limits', () => {
  assert.deepEqual(pool('warmup_provider = Gmail.com., googlemail.com\n{1}smtp0: warmup=5\n').warmupProviders, [['gmail.com', 'googlemail.com']]);
  refused('warmup_provider =\n{1}smtp0:\n', 'p.cf:1: warmup_provider: expected one or more domains of one provider (e.g. "gmail.com googlemail.com"), got none');
  refused('warmup_provider = -bad.com\n{1}smtp0:\n', 'p.cf:1: warmup_provider: expected a domain name such as gmail.com, got "-bad.com"');
  refused('warmup_provider = com\n{1}smtp0:\n', 'warmup_provider: expected a domain name such as gmail.com, got "com"');
  refused(`warmup_provider = ${'a'.repeat(64)}.com\n{1}smtp0:\n`, 'warmup_provider: expected a domain name');
  assert.ok(pool(`warmup_provider = ${'a'.repeat(63)}.com\n{1}smtp0: warmup=5\n`));
  const lines = (n: number): string => Array.from({ length: n }, (_, i) => `warmup_provider = p${i}.example\n`).join('');
  assert.equal(pool(`${lines(MAX_PROVIDERS)}{1}smtp0:\n`).warmupProviders.length, MAX_PROVIDERS);
  refused(`${lines(MAX_PROVIDERS + 1)}{1}smtp0:\n`, `at most ${MAX_PROVIDERS} warmup_provider lines`);
  refused('warmup_provider = a.example\nwarmup_provider = a.example\n{1}smtp0:\n', 'p.cf:2: warmup_provider');
});

test('config: each feedback directive reaches its setting, each limit on both sides; the engine obeys what was set', () => {
  const counts: [string, keyof ReturnType<typeof pool>['feedback']][] = [['feedback_down_after', 'downAfter'], ['feedback_suspend_after', 'suspendAfter'], ['feedback_probe_rise', 'probeRise']];
  for (const [name, field] of counts) {
    assert.equal(pool(`${name} = 1\n{1}smtp0:\n`).feedback[field], 1, name);
    assert.equal(pool(`${name} = 100\n{1}smtp0:\n`).feedback[field], 100, name);
    for (const bad of ['0', '101', '1000', 'x', '']) refused(`${name} = ${bad}\n{1}smtp0:\n`, `p.cf:1: ${name}: expected a whole number from 1 to 100, got ${JSON.stringify(bad)}`);
  }
  const durations: [string, keyof ReturnType<typeof pool>['feedback']][] = [['feedback_hold', 'holdMs'], ['feedback_max_hold', 'maxHoldMs'], ['feedback_ramp', 'rampMs'], ['feedback_suspend_window', 'suspendWindowMs'], ['feedback_suspend_ttl', 'suspendTtlMs'], ['feedback_probe_interval', 'probeIntervalMs']];
  for (const [name, field] of durations) {
    assert.equal(pool(`${name} = 1\n{1}smtp0:\n`).feedback[field], 1000, `${name}: bare seconds`);
    assert.equal(pool(`${name} = 2m\n{1}smtp0:\n`).feedback[field], 120_000, name);
    assert.equal(pool(`${name} = 3h\n{1}smtp0:\n`).feedback[field], 10_800_000, name);
    assert.equal(pool(`${name} = 7d\n{1}smtp0:\n`).feedback[field], 604_800_000, `${name}: 7d is the most`);
    assert.equal(pool(`${name} = 1s\n{1}smtp0:\n`).feedback[field], 1000, `${name}: 1s is the least`);
    for (const bad of ['0', '0s', '8d', '604801', '1.5m', '1 week', '']) refused(`${name} = ${bad}\n{1}smtp0:\n`, `p.cf:1: ${name}: expected a duration from 1s to 7d, e.g. 30s, 10m, 1h, got ${JSON.stringify(bad)}`);
  }
  const rules = pool('feedback_rule = throttled /EXCEEDED/i\nfeedback_rule = mailbox /TSS04/\n{1}smtp0:\n').feedback.rules;
  assert.deepEqual(rules.map((r) => [r.verdict, r.regex.source, r.regex.flags, r.line]), [['throttled', 'EXCEEDED', 'i', 1], ['mailbox', 'TSS04', '', 2]]);
  refused('feedback_rule = ok /x/\n{1}smtp0:\n', 'p.cf:1: feedback_rule: expected "connection|throttled|mailbox /regex/" with an optional i after the regex');
  refused('feedback_rule = throttled /(/\n{1}smtp0:\n', 'p.cf:1: feedback_rule: expected a valid regular expression (');
  refused('feedback_rule = throttled x\n{1}smtp0:\n', 'p.cf:1: feedback_rule: expected "connection|throttled|mailbox /regex/"');
  refused('feedback_bogus = 1\n{1}smtp0:\n', 'p.cf:1: feedback_bogus: expected feedback_down_after, feedback_suspend_after');
});
