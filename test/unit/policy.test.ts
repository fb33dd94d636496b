import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/parse.js';
import { inScope, stickyKeyOf } from '../../src/config/scope.js';
import { activeTier } from '../../src/balance/tiers.js';
import { pickRendezvous, pickWeightedRandom, pickWrr } from '../../src/balance/select.js';
import { hashKey } from '../../src/balance/hash.js';

const scopeOf = (lines: string): Parameters<typeof inScope>[0] => parseConfig(`${lines}\n{1}smtp0:\n`, 'f').pool.scope;
/** A key as the codec hands it over: UTF-8 bytes, one char per byte. */
const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

test('scope: domains, subdomains, addresses, local parts, regexes, exclusions; case-insensitive', () => {
  const scope = scopeOf('match = example.com .example.net user@other.example news@ /^bulk-[0-9]+@/ "<>"\nmatch = !vip.example.net');
  const yes = ['a@example.com', 'A@EXAMPLE.COM', 'a@example.com.', 'b@x.example.net', 'b@deep.x.Example.NET', 'USER@other.example', 'news@anywhere.example', 'bulk-42@z.example', '"<>"', '<>'];
  const no = ['a@example.co', 'a@sub.example.com', 'a@example.net', 'b@vip.example.net', 'other@other.example', 'bulk-x@z.example', '"<', 'a@xexample.net'];
  for (const k of yes) assert.equal(inScope(scope, bytes(k)), true, k);
  for (const k of no) assert.equal(inScope(scope, bytes(k)), false, k);
});

test('scope: no rules answers every key; exclusions alone answer everything else', () => {
  assert.equal(inScope(scopeOf(''), 'anything at all'), true);
  const scope = scopeOf('match = !local.example !"<>"');
  assert.equal(inScope(scope, 'a@remote.example'), true);
  assert.equal(inScope(scope, 'a@LOCAL.example'), false);
  assert.equal(inScope(scope, '"<>"'), false);
  // Postfix asks "<>" and then <> for the null sender: one rule covers both.
  assert.equal(inScope(scope, '<>'), false);
});

test('scope: UTF-8 domains compare as bytes, ASCII case folded only', () => {
  const scope = scopeOf('match = bücher.example /^jörg@/');
  assert.equal(inScope(scope, bytes('a@BÜCHER.example')), false); // Postfix does not fold non-ASCII either
  assert.equal(inScope(scope, bytes('a@bücher.EXAMPLE')), true);
  assert.equal(inScope(scope, bytes('jörg@x.example')), true);
  // 0xC3 0xBC (ü) must not equal 0xE3 0xBC under latin1 case folding.
  assert.equal(inScope(scopeOf('match = \u00fc.example'), 'a@\u00e3\u00bc.example'), false);
});

test('sticky key: the domain of an address; the key itself when there is none', () => {
  assert.equal(stickyKeyOf('User@Mail.Example.'), 'mail.example');
  assert.equal(stickyKeyOf('"a@b"@x.example'), 'x.example');
  assert.equal(stickyKeyOf('example.org'), 'example.org');
  assert.equal(stickyKeyOf('"<>"'), '<>');
  assert.equal(stickyKeyOf('<>'), '<>');
  assert.equal(stickyKeyOf('user@'), 'user@');
});

test('tiers: the best tier with an undrained member; none when all are drained', () => {
  assert.deepEqual(activeTier([0, 0, 1], [0, 0, 0]), { priority: 0, members: [true, true, false] });
  assert.deepEqual(activeTier([0, 0, 1], [1, 0, 0]), { priority: 0, members: [false, true, false] });
  assert.deepEqual(activeTier([0, 0, 1], [1, 1, 0]), { priority: 1, members: [false, false, true] });
  assert.deepEqual(activeTier([5, 10, 10], [1, 0, 0]), { priority: 10, members: [false, true, true] });
  assert.equal(activeTier([0, 1], [1, 1]), undefined);
});

test('wrr within a tier: exact shares of the eligible members only', () => {
  const weights = [3, 2, 1];
  const current = [0, 0, 0];
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) counts[pickWrr(weights, [true, false, true], current)]!++;
  assert.deepEqual(counts, [225, 0, 75]);
});

test('random: weighted shares of 10,000 picks within 3%', () => {
  let seed = 42;
  const u = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const counts = [0, 0, 0];
  for (let i = 0; i < 10_000; i++) counts[pickWeightedRandom([3, 2, 1], [true, true, true], u())]!++;
  [0.5, 1 / 3, 1 / 6].forEach((share, i) => assert.ok(Math.abs(counts[i]! / 10_000 - share) < 0.03, `${counts}`));
  assert.equal(pickWeightedRandom([1, 1], [false, false], 0.5), -1);
  assert.equal(pickWeightedRandom([1, 1], [false, true], 0.999999), 1);
});

test('rendezvous: shares follow weights over 10,000 domains; removing one member moves only its domains', () => {
  const members = ['smtp0:', 'smtp1:', 'smtp2:', 'smtp3:'].map(hashKey);
  const weights = [4, 3, 2, 1];
  const all = [true, true, true, true];
  const domains = Array.from({ length: 10_000 }, (_, i) => hashKey(`d${i}.example`));
  const before = domains.map((d) => pickRendezvous(weights, all, d, members));
  weights.forEach((w, i) => {
    const share = before.filter((b) => b === i).length / domains.length;
    assert.ok(Math.abs(share - w / 10) < 0.03, `member ${i}: ${share}`);
  });
  const after = domains.map((d) => pickRendezvous(weights, [true, false, true, true], d, members));
  for (let k = 0; k < domains.length; k++) {
    if (before[k] !== 1) assert.equal(after[k], before[k], 'a domain not on the removed member moved');
    else assert.notEqual(after[k], 1);
  }
});

test('rendezvous: deterministic for any key and eligible set (property)', () => {
  fc.assert(fc.property(
    fc.string(), fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 8 }), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    (key, weights, mask) => {
      const members = weights.map((_, i) => hashKey(`t${i}:`));
      const eligible = weights.map((_, i) => mask[i]!);
      const a = pickRendezvous(weights, eligible, hashKey(key), members);
      assert.equal(a, pickRendezvous(weights, eligible, hashKey(key), members));
      if (eligible.some(Boolean)) assert.ok(eligible[a]); else assert.equal(a, -1);
    },
  ));
});
