/**
 * `match` patterns (config/scope.ts), each kind and each refusal on both
 * sides: compiled as written, then asked of keys as bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileScopeRule, inScope } from '../../src/config/scope.js';
import type { ScopeRule } from '../../src/config/types.js';

const only = (...patterns: string[]) => ({ include: patterns.map((p) => compileScopeRule(p) as ScopeRule), exclude: [] });
const except = (...patterns: string[]) => ({ include: [], exclude: patterns.map((p) => compileScopeRule(p) as ScopeRule) });
const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

test('scope: each pattern kind compiles to what it says', () => {
  assert.deepEqual(compileScopeRule('*'), { kind: 'all' });
  assert.deepEqual(compileScopeRule('<>'), { kind: 'nullSender' });
  assert.deepEqual(compileScopeRule('"<>"'), { kind: 'nullSender' });
  assert.deepEqual(compileScopeRule('Example.COM'), { kind: 'domain', domain: 'example.com' });
  assert.deepEqual(compileScopeRule('example.com.'), { kind: 'domain', domain: 'example.com' });
  assert.deepEqual(compileScopeRule('.Example.com.'), { kind: 'subdomain', suffix: '.example.com' });
  assert.deepEqual(compileScopeRule('.x'), { kind: 'subdomain', suffix: '.x' });
  assert.deepEqual(compileScopeRule('Bulk@'), { kind: 'localpart', local: 'bulk' });
  assert.deepEqual(compileScopeRule('Bulk@Example.com'), { kind: 'key', key: 'bulk@example.com' });
  assert.deepEqual(compileScopeRule('"a b"@x'), { kind: 'key', key: '"a b"@x' });
  assert.deepEqual(compileScopeRule('"quoted'), { kind: 'key', key: '"quoted' });
  assert.deepEqual(compileScopeRule('m\u00fcller.example'), { kind: 'domain', domain: bytes('m\u00fcller.example') });
  const re = compileScopeRule('/^bulk-/');
  assert.ok(typeof re !== 'string' && re.kind === 'regex' && re.regex.flags === 'iu' && re.regex.source === '^bulk-');
  assert.ok(typeof compileScopeRule('/a/i') !== 'string', 'the i flag is allowed (it is the default)');
});

test('scope: each refusal says what was expected', () => {
  assert.equal(compileScopeRule('/'), 'a regular expression closed by "/" (e.g. /^bulk-/)');
  assert.equal(compileScopeRule('/abc'), 'a regular expression closed by "/" (e.g. /^bulk-/)');
  assert.equal(compileScopeRule('/a/g'), 'no flags after a regular expression\'s closing "/" (matching is case-insensitive already)');
  assert.equal(compileScopeRule('/a/ii'), 'no flags after a regular expression\'s closing "/" (matching is case-insensitive already)');
  assert.match(compileScopeRule('/(/') as string, /^a valid regular expression \(.+\)$/);
  assert.equal(compileScopeRule('@example.com'), 'a domain, .domain, user@domain, user@, "<>", * or /regex/ (write "example.com", not "@example.com")');
  assert.equal(compileScopeRule('.'), 'a domain after "."');
});

test('scope: asked of keys, exclusions first, case folded as bytes, regexes on UTF-8 text', () => {
  assert.equal(inScope({ include: [], exclude: [] }, 'anything'), true);
  assert.equal(inScope(only('example.com'), 'u@EXAMPLE.com'), true);
  assert.equal(inScope(only('example.com'), 'u@sub.example.com'), false);
  assert.equal(inScope(only('.example.com'), 'u@sub.example.com'), true);
  assert.equal(inScope(only('.example.com'), 'u@example.com'), false);
  assert.equal(inScope(only('.example.com'), 'u@badexample.com'), false);
  assert.equal(inScope(only('bulk@'), 'BULK@x.example'), true);
  assert.equal(inScope(only('bulk@'), 'xbulk@x.example'), false);
  assert.equal(inScope(only('bulk@'), 'bulk'), false, 'no @: no local part');
  assert.equal(inScope(only('bulk@x.example'), 'Bulk@X.example'), true);
  assert.equal(inScope(only('<>'), '<>'), true);
  assert.equal(inScope(only('<>'), '"<>"'), true);
  assert.equal(inScope(only('<>'), ''), false);
  assert.equal(inScope(only('<>'), 'a@b'), false);
  assert.equal(inScope(only('*'), 'a@b'), true);
  assert.equal(inScope(only('/^m\u00fcller@/'), bytes('M\u00dcLLER@x.example')), true, 'the regex sees UTF-8 text, case-insensitive');
  assert.equal(inScope(only('m\u00fcller.example'), bytes('u@m\u00fcller.example')), true);
  assert.equal(inScope(only('example.com', 'example.net'), 'u@example.net'), true, 'any inclusion');
  assert.equal(inScope(except('example.com'), 'u@example.com'), false);
  assert.equal(inScope(except('example.com'), 'u@example.net'), true, 'exclusions only: the rest is in');
  assert.equal(inScope({ include: only('*').include, exclude: except('example.com').exclude }, 'u@example.com'), false, 'exclusion wins');
});
