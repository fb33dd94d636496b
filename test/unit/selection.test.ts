import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/parse.js';
import { inScope } from '../../src/config/scope.js';
import { stickyKeyOf } from '../../src/keys/domain.js';
import { eligibleMembers } from '../../src/balance/eligibility/index.js';
import { DRAINED, drainRule } from '../../src/balance/eligibility/drain.js';
import { ALGORITHM_IMPLS } from '../../src/balance/algorithms/index.js';
import { pickWeightedRandom } from '../../src/balance/algorithms/random.js';
import { pickRendezvous } from '../../src/balance/algorithms/sticky.js';
import type { EligibilityRule } from '../../src/balance/types.js';
import { destinationOf } from '../../src/balance/eligibility/suspension.js';
import { suspensionApplies } from '../../src/balance/eligibility/suspension.js';
import { hashKey } from '../../src/keys/hash.js';

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

/** The active tier of a pool with these priorities and drain marks (1 = drained). */
function activeTier(priorities: number[], drained: number[]): { priority: number; members: boolean[] } | undefined {
  const e = eligibleMembers(priorities.map(() => 1), priorities, drained.map((d) => ({ flags: d ? DRAINED : 0 })));
  return e.priority === undefined ? undefined : { priority: e.priority, members: [...e.members] };
}

test('tiers: the best tier with an undrained member; none when all are drained', () => {
  assert.deepEqual(activeTier([0, 0, 1], [0, 0, 0]), { priority: 0, members: [true, true, false] });
  assert.deepEqual(activeTier([0, 0, 1], [1, 0, 0]), { priority: 0, members: [false, true, false] });
  assert.deepEqual(activeTier([0, 0, 1], [1, 1, 0]), { priority: 1, members: [false, false, true] });
  assert.deepEqual(activeTier([5, 10, 10], [1, 0, 0]), { priority: 10, members: [false, true, true] });
  assert.equal(activeTier([0, 1], [1, 1]), undefined);
});

test('eligibility: rules multiply weight factors; the first rule to exclude is named; an algorithm sees only what they leave', () => {
  const half: EligibilityRule = { name: 'ramp', automatic: true, factor: (i) => (i === 0 ? 0.5 : 1) };
  const noTwo: EligibilityRule = { name: 'suspended', automatic: true, factor: (i) => (i === 2 ? 0 : 1) };
  const facts = [{ flags: 0 }, { flags: DRAINED }, { flags: 0 }, { flags: 0 }];
  const e = eligibleMembers([4, 2, 2, 2], [0, 0, 0, 1], facts, [drainRule, half, noTwo]);
  assert.deepEqual(e.weights, [2, 0, 0, 2]);
  assert.deepEqual(e.excludedBy, [undefined, 'drained', 'suspended', undefined]);
  assert.equal(e.priority, 0);
  assert.deepEqual(e.members, [true, false, false, false]);
  const current = [0, 0, 0, 0];
  const input = { current, keyHash: 0, memberHashes: [1, 2, 3, 4], random: () => 0.5 };
  for (const name of ['wrr', 'random', 'sticky'] as const) assert.equal(ALGORITHM_IMPLS[name].pick(e, input), 0, name);
});

test('wrr within a tier: exact shares of the eligible members only', () => {
  const e = { priority: 0, members: [true, false, true], weights: [3, 0, 1], excludedBy: [undefined, 'drained', undefined] };
  const input = { current: [0, 0, 0], keyHash: 0, memberHashes: [], random: () => 0 };
  const counts = [0, 0, 0];
  for (let i = 0; i < 300; i++) counts[ALGORITHM_IMPLS.wrr.pick(e, input)]!++;
  assert.deepEqual(counts, [225, 0, 75]);
});

test('every algorithm describes itself for check; only wrr has a predictable first cycle', () => {
  assert.match(ALGORITHM_IMPLS.wrr.describe(), /round robin/);
  assert.match(ALGORITHM_IMPLS.random.describe(), /random/);
  assert.match(ALGORITHM_IMPLS.sticky.describe(), /domain/);
  assert.deepEqual(ALGORITHM_IMPLS.wrr.preview!([3, 2, 1], 6), [0, 1, 0, 2, 1, 0]);
  assert.equal('preview' in ALGORITHM_IMPLS.random, false);
});

test('random: weighted shares of 10,000 picks within 3%', () => {
  let seed = 42;
  const u = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const counts = [0, 0, 0];
  for (let i = 0; i < 10_000; i++) counts[pickWeightedRandom([3, 2, 1], [true, true, true], u())]!++;
  [0.5, 1 / 3, 1 / 6].forEach((share, i) => assert.ok(Math.abs(counts[i]! / 10_000 - share) < 0.03, counts.join(' ')));
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

test('suspensions: the in-place match of a key against suspended destinations agrees with suspensionApplies on its domain (property)', () => {
  const label = fc.stringMatching(/^[a-zA-Z0-9-]{1,6}$/);
  const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
  fc.assert(fc.property(
    fc.option(fc.stringMatching(/^[a-z.@"<>]{0,6}$/), { nil: undefined }), domain, fc.boolean(), fc.array(domain, { minLength: 1, maxLength: 4 }),
    (local, dom, dot, dests) => {
      const key = `${local === undefined ? '' : `${local}@`}${dom}${dot ? '.' : ''}`;
      const map = new Map(dests.map((d) => [d.toLowerCase(), true]));
      const expected = [...map.keys()].some((d) => suspensionApplies({ id: 0, destination: d, untilMs: 2, reason: '' }, stickyKeyOf(key), 1));
      if (stickyKeyOf(key) === '<>') return;
      assert.equal(destinationOf(map, key) !== undefined, expected, `${key} vs ${[...map.keys()].join(' ')}`);
    },
  ), { numRuns: Number(process.env.FUZZ_RUNS ?? 500) });
});
