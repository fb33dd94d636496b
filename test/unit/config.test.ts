import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/parse.js';
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
    assert.deepEqual(err.problems.map((p) => [p.line, p.field]), [[2, 'weight'], [3, 'entry'], [4, 'entry'], [5, 'weight'], [6, 'transport']]);
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
  for (const f of files) parseConfig(readFileSync(join(dir, f), 'utf8'), f);
});
