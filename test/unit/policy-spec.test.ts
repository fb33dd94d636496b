/**
 * `postbal policy`'s settings (policy/spec.ts): hapolicy's -s spec and the
 * policy file, each field on both sides of its limits, and every message
 * naming file, line, field, expected and received.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BREAKER_EXPECTED, MAX_SERVICES, checkServices, isPolicyAction, parseBreakerSeconds, parsePolicyText, parseServiceSpec, readPolicyFile } from '../../src/policy/spec.js';
import { ConfigError } from '../../src/errors.js';
import { DEFAULTS } from '../../src/defaults.js';
import { tempDir } from '../helpers/postbal.js';

test('policy spec: NAME=ADDRESS:PORT[:PRIO[:WEIGHT[:TIMEOUT]]] with its defaults and limits', () => {
  assert.deepEqual(parseServiceSpec('a=127.0.0.1:10040'), { name: 'a', host: '127.0.0.1', port: 10040, priority: 0, weight: 1, timeoutMs: 30_000 });
  assert.deepEqual(parseServiceSpec('b.c_d-9=[::1]:1:5:3:2'), { name: 'b.c_d-9', host: '::1', port: 1, priority: 5, weight: 3, timeoutMs: 2000 });
  assert.deepEqual(parseServiceSpec('x=h:65535:9999:999999:999999'), { name: 'x', host: 'h', port: 65535, priority: 9999, weight: 999_999, timeoutMs: 999_999_000 });
  assert.ok('name' in parseServiceSpec(`${'n'.repeat(32)}=h:1`), 'a name of 32 is taken');
  for (const bad of [
    `${'n'.repeat(33)}=h:1`, '=h:1', 'a b=h:1', 'a=h:0', 'a=h:65536', 'a=h:123456', 'a=h', 'a=:25', 'a=h:25:', 'a=h:25:1:0', 'a=h:25:1:1:0',
    'a=h:25:12345', 'a=h:25:1:1234567', 'a=h:25:1:1:1234567', 'a=h:25:1:1:1:1', 'a=h x:25', 'a=[::1:25', 'a=h:25 ', ' a=h:25', 'a=h:-1', 'a=h:2a',
  ]) {
    const r = parseServiceSpec(bad);
    assert.ok('problem' in r, `${bad} refused`);
    assert.match(r.problem, /^NAME=ADDRESS:PORT\[:PRIO\[:WEIGHT\[:TIMEOUT\]\]\] \(NAME of letters, digits, "\.", "_", "-", at most 32; port 1-65535; weight and timeout in seconds >= 1\)$/);
  }
});

test('policy spec: actions, breaker seconds, the service list', () => {
  for (const ok of ['dunno', 'defer_if_permit Service unavailable', 'x', '~', 'a'.repeat(500)]) assert.equal(isPolicyAction(ok), true, ok);
  for (const bad of ['', ' dunno', 'a\nb', 'a\tb', 'caf\u00e9', 'a'.repeat(501), '\x7f']) assert.equal(isPolicyAction(bad), false, JSON.stringify(bad));
  assert.deepEqual(['1', '30', '9999', '0001'].map(parseBreakerSeconds), [1000, 30_000, 9_999_000, 1000]);
  for (const bad of ['0', '10000', '', '1.5', '-1', ' 5', '5s', '00000']) assert.equal(parseBreakerSeconds(bad), undefined, bad);
  assert.equal(BREAKER_EXPECTED, 'whole seconds from 1 to 9999');
  const s = (name: string) => ({ name, host: 'h', port: 1, priority: 0, weight: 1, timeoutMs: 1000 });
  assert.deepEqual(checkServices([s('a')], 'f'), []);
  assert.deepEqual(checkServices([], 'f'), [{ file: 'f', line: 0, field: 'service', expected: 'at least one service (-s NAME=ADDRESS:PORT or a "service =" line)', received: 'none' }]);
  assert.deepEqual(checkServices([s('a'), s('b'), s('a')], 'f'), [{ file: 'f', line: 0, field: 'service', expected: 'each NAME once', received: '"a" twice' }]);
  const many = Array.from({ length: MAX_SERVICES + 1 }, (_, i) => s(`s${i}`));
  assert.deepEqual(checkServices(many.slice(0, MAX_SERVICES), 'f'), [], `${MAX_SERVICES} services are taken`);
  assert.deepEqual(checkServices(many, 'f'), [{ file: 'f', line: 0, field: 'service', expected: `at most ${MAX_SERVICES} services`, received: String(MAX_SERVICES + 1) }]);
});

test('policy file: every directive, comments, CRLF, and every problem at once with its line', () => {
  const ok = parsePolicyText('# c\n\n  service = a=127.0.0.1:1:5 \r\nservice=b=h:2\ndefault = defer_if_permit try later\nbreaker = 7\n', 'p.cf');
  assert.deepEqual(ok.services.map((x) => [x.name, x.port, x.priority]), [['a', 1, 5], ['b', 2, 0]]);
  assert.equal(ok.defaultAction, 'defer_if_permit try later');
  assert.equal(ok.breakerMs, 7000);
  const dflt = parsePolicyText('service = a=h:1\n', 'p.cf');
  assert.deepEqual([dflt.defaultAction, dflt.breakerMs], [DEFAULTS.policy.defaultAction, DEFAULTS.policy.breakerMs]);
  assert.deepEqual([DEFAULTS.policy.defaultAction, DEFAULTS.policy.breakerMs], ['dunno', 10_000]);
  let err: unknown;
  try {
    parsePolicyText('service = a=h:0\ndefault = \u00e9\nbreaker = 0\nfoo = 1\nnonsense\nService = a=h:1\nconstructor = x\n', 'p.cf');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(err.problems.map((p) => [p.line, p.field, p.received]), [
    [1, 'service', '"a=h:0"'],
    [2, 'default', '"\u00e9"'],
    [3, 'breaker', '"0"'],
    [4, 'foo', '"foo"'],
    [5, 'line', '"nonsense"'],
    [6, 'Service', '"Service"'],
    [7, 'constructor', '"constructor"'],
    [0, 'service', 'none'],
  ]);
  assert.equal(err.problems[2]!.expected, BREAKER_EXPECTED);
  assert.equal(err.problems[3]!.expected, 'one of service, default, breaker');
  assert.match(err.problems[4]!.expected, /"service = …", "default = …" or "breaker = …"/);
  assert.equal(err.problems.every((p) => p.file === 'p.cf'), true);
  const long = `service = ${'x'.repeat(200)}`;
  assert.throws(() => parsePolicyText(long, 'p.cf'), (e: ConfigError) => e.problems[0]!.received === JSON.stringify('x'.repeat(80)));
});

test('policy file: read through the trusted reader (a file others can write is refused, naming owner and mode)', () => {
  const t = tempDir();
  try {
    const file = join(t.dir, 'p.cf');
    writeFileSync(file, 'service = a=h:1\n');
    chmodSync(file, 0o644);
    assert.equal(readPolicyFile(file).services[0]!.name, 'a');
    chmodSync(file, 0o664);
    assert.throws(() => readPolicyFile(file), /owner and mode: expected a regular file owned by root.*another local user could send the policy requests elsewhere.*mode 664/);
    assert.throws(() => readPolicyFile(join(t.dir, 'missing.cf')), /missing\.cf: file: expected a readable policy config file, got no such file/);
  } finally {
    t.cleanup();
  }
});
