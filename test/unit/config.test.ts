import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/parse.js';
import { parsePolicyText } from '../../src/policy/spec.js';
import { ConfigError } from '../../src/errors.js';
import { ROOT } from '../helpers/postbal.js';

test('config: the postbal.pl format', () => {
  const { pool } = parseConfig('# comment\n\n{3}smtp0:\n  {2} smtp1:[relay.example]:25  \r\n{1}smtp2:\n', 'f.cf');
  assert.deepEqual(pool.transports.map((t) => [t.value, t.weight, t.line]), [
    ['smtp0:', 3, 3], ['smtp1:[relay.example]:25', 2, 4], ['smtp2:', 1, 5],
  ]);
});

test('config: every bad line is reported with file, line, field, expected and received', () => {
  try {
    parseConfig('{3}smtp0:\n{0}smtp1:\nsmtp2:\n{1}bad name\n{x}smtp3:\n{2}:nexthop\n', '/etc/postfix/postbal.cf');
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems.map((p) => [p.line, p.field]), [[2, 'weight'], [3, 'entry'], [4, 'transport'], [5, 'weight'], [6, 'transport']]);
    assert.match(err.message, /^\/etc\/postfix\/postbal\.cf:2: weight: expected an integer from 1 to 1000000, got "0"$/m);
  }
});

test('config: empty pool, and an entry too long for a tcp_table reply, are errors', () => {
  assert.throws(() => parseConfig('# nothing\n', 'f'), /pool: expected at least one/);
  assert.throws(() => parseConfig(`{1}smtp:${'x'.repeat(4100)}\n`, 'f'), /at most 4096 bytes/);
});

test('config: a duplicate entry adds its weight, with a warning', () => {
  const { pool, warnings } = parseConfig('{1}smtp0:\n{2}smtp0:\n', 'f');
  assert.equal(pool.transports.length, 1);
  assert.equal(pool.transports[0]!.weight, 3);
  assert.equal(warnings.length, 1);
});

test('config: the fingerprint changes with weights and order', () => {
  const a = parseConfig('{3}smtp0:\n{2}smtp1:\n', 'f').pool.fingerprint;
  assert.notEqual(a, parseConfig('{2}smtp0:\n{3}smtp1:\n', 'f').pool.fingerprint);
  assert.notEqual(a, parseConfig('{2}smtp1:\n{3}smtp0:\n', 'f').pool.fingerprint);
  assert.equal(a, parseConfig('# same\n{3}smtp0:\n{2}smtp1:\n', 'g').pool.fingerprint);
});

test('config: every example config parses', () => {
  const dir = join(ROOT, 'examples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.cf') && f.startsWith('postbal'));
  assert.ok(files.length > 0);
  // postbal-policy.cf is postbal policy's, not a pool (test/integration/policy-shared.test.ts checks it).
  for (const f of files) {
    if (f === 'postbal-policy.cf') parsePolicyText(readFileSync(join(dir, f), 'latin1'), f);
    else parseConfig(readFileSync(join(dir, f), 'utf8'), f);
  }
});

test('config: directives and priorities extend the format; an old file means what it meant', () => {
  const old = parseConfig('{3}smtp0:\n{1}smtp1:\n', 'f').pool;
  assert.equal(old.algorithm, 'wrr');
  assert.equal(old.fallback, undefined);
  assert.deepEqual(old.scope, { include: [], exclude: [] });
  assert.deepEqual(old.transports.map((t) => t.priority), [0, 0]);
  const { pool } = parseConfig([
    'algorithm = sticky',
    'fallback = retry:4.3.2 no source IP available',
    'match = example.com .example.net, news@',
    'match = !vip.example.com !"<>"',
    '{3}smtp0:',
    '{1}smtp1:  priority=1',
    '{1} smtp2:[relay.example]:25 priority=1',
  ].join('\n'), 'f');
  assert.equal(pool.algorithm, 'sticky');
  assert.equal(pool.fallback, 'retry:4.3.2 no source IP available');
  assert.deepEqual(pool.transports.map((t) => [t.value, t.weight, t.priority]), [
    ['smtp0:', 3, 0], ['smtp1:', 1, 1], ['smtp2:[relay.example]:25', 1, 1],
  ]);
  assert.deepEqual(pool.scope.include.map((r) => r.kind), ['domain', 'subdomain', 'localpart']);
  assert.deepEqual(pool.scope.exclude.map((r) => r.kind), ['domain', 'nullSender']);
  // The fingerprint (what the state's positions belong to) ignores directives.
  assert.equal(pool.fingerprint, parseConfig('{3}smtp0:\n{1}smtp1:\n{1}smtp2:[relay.example]:25\n', 'f').pool.fingerprint);
});

test('config: bad directives, attributes and patterns name line, field, expected and received', () => {
  try {
    parseConfig([
      'algorithm = fastest', 'fallback = none', 'fallback = 4.3.2 down', 'match = /a(/', 'match = @example.com',
      'colour = blue', '{1}smtp0: priority=high', '{1}smtp1: weight=2', '{1}smtp2:', '{1}smtp2: priority=1',
    ].join('\n'), 'p.cf');
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems.map((p) => [p.line, p.field]), [
      [1, 'algorithm'], [3, 'fallback'], [4, 'match'], [5, 'match'],
      [6, 'directive'], [7, 'priority'], [8, 'attribute'], [10, 'priority'],
    ]);
    assert.throws(() => parseConfig('algorithm = wrr\nalgorithm = random\n{1}smtp0:\n', 'f'), /f:2: algorithm: expected one "algorithm" line \(line 1 has one already\)/);
    assert.match(err.message, /^p\.cf:1: algorithm: expected wrr, random, sticky, got "fastest"$/m);
    assert.match(err.message, /^p\.cf:7: priority: expected "priority=N" with N from 0 .* got "priority=high"$/m);
  }
});

test('config: warmup=CAP,CAP,… per entry; bad schedules and too many warming transports named by line, field, expected, received', () => {
  const { pool } = parseConfig('{1}smtp0:\n{2}smtp3: warmup=200,500,1000 priority=1\n', 'w.cf');
  assert.deepEqual(pool.transports.map((t) => t.warmup), [undefined, [200, 500, 1000]]);
  assert.equal(pool.transports[1]!.priority, 1);
  const same = parseConfig('{1}smtp0:\n{1}smtp0:\n', 'w.cf').pool;
  assert.equal(same.fingerprint, parseConfig('{1}smtp0:\n{1}smtp0: warmup=5\n', 'w.cf').pool.fingerprint, 'adding a schedule keeps the pool (and its state)');
  const bad = (text: string): string => {
    try {
      parseConfig(text, 'w.cf');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    return assert.fail('accepted');
  };
  assert.match(bad('{1}smtp3: warmup=0,10\n'), /^w\.cf:1: warmup: expected day caps of stage 1, 2, … as whole numbers from 1 to 999999999, .*got "0,10"/);
  assert.match(bad('{1}smtp3: warmup=\n'), /w\.cf:1: warmup: expected day caps/);
  assert.match(bad('{1}smtp3: warmup=1,,2\n'), /w\.cf:1: warmup: expected day caps/);
  assert.match(bad('{1}smtp3: warmup=10\n{1}smtp3: warmup=20\n'), /w\.cf:2: warmup: expected the warm-up schedule of line 1, .*got 20/);
  const many = Array.from({ length: 17 }, (_, i) => `{1}smtp${i}: warmup=10`).join('\n');
  assert.match(bad(many), /w\.cf:1: warmup: expected at most 16 warm-up counts: warming transports x \(warmup_provider lines \+ 1\), got 17 x 1 = 17/);
  const providers = parseConfig('{1}smtp0:\n{1}smtp3: warmup=10\nwarmup_provider = gmail.com googlemail.com\nwarmup_provider = Outlook.com, hotmail.com live.com.\n', 'w.cf').pool;
  assert.deepEqual(providers.warmupProviders, [['gmail.com', 'googlemail.com'], ['outlook.com', 'hotmail.com', 'live.com']]);
  assert.match(bad('{1}smtp3: warmup=10\nwarmup_provider = gmail.com\nwarmup_provider = x.example gmail.com\n'), /w\.cf:3: warmup_provider: expected each domain in one provider \(line 2 lists gmail\.com already\), got "gmail\.com"/);
  assert.match(bad('warmup_provider = not_a_domain\n{1}smtp3:\n'), /w\.cf:1: warmup_provider: expected a domain name such as gmail\.com, got "not_a_domain"/);
  const five = Array.from({ length: 4 }, (_, i) => `{1}smtp${i}: warmup=10`).join('\n');
  assert.match(bad(`${five}\nwarmup_provider = a.example\nwarmup_provider = b.example\nwarmup_provider = c.example\nwarmup_provider = d.example\n`), /got 4 x 5 = 20/);
});

test('config: a directive named like a property every object has (constructor, toString, __proto__, hasOwnProperty) is an unknown directive, in both files', () => {
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'feedback_constructor']) {
    assert.throws(() => parseConfig(`${name} = 5\n{1}smtp0:\n`, 'p.cf'), (e: Error) => /p\.cf:1: (directive|entry|feedback_constructor): expected /.test(e.message), name);
    assert.throws(() => parsePolicyText(`${name} = 5\nservice = a=h:1\n`, 'q.cf'), (e: Error) => new RegExp(`q\\.cf:1: (${name}: expected one of service, default, breaker|line: expected)`).test(e.message), name);
  }
});
