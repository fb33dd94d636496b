/**
 * Weighted random's draw at every boundary of its intervals, rendezvous
 * (sticky) scores, and master.cf read as master(5) defines it: comments,
 * continuation lines, `-o` in both forms, spawn's user= and argv=.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickWeightedRandom, random } from '../../src/balance/algorithms/random.js';
import { sticky } from '../../src/balance/algorithms/sticky.js';
import { ALGORITHM_IMPLS } from '../../src/balance/algorithms/index.js';
import { parseMasterCf } from '../../src/config/master-cf.js';
import { hashKey } from '../../src/keys/hash.js';

test('random: each member owns the interval its weight gives, eligible members only, the last for a draw at the very end', () => {
  const w = [3, 2, 1];
  const all = [true, true, true];
  assert.deepEqual([0, 0.49999, 0.5, 0.83333, 0.8334, 0.99999].map((u) => pickWeightedRandom(w, all, u)), [0, 0, 1, 1, 2, 2]);
  assert.equal(pickWeightedRandom(w, [false, true, true], 0), 1);
  assert.equal(pickWeightedRandom(w, [false, true, true], 0.66), 1);
  assert.equal(pickWeightedRandom(w, [false, true, true], 0.67), 2);
  assert.equal(pickWeightedRandom(w, [true, false, false], 0.99), 0);
  assert.equal(pickWeightedRandom(w, [false, false, false], 0.5), -1);
  assert.equal(pickWeightedRandom([0, 0], [true, true], 0.5), -1, 'eligible but weightless');
  assert.equal(pickWeightedRandom(w, [true, true, false], 1), 1, 'a draw of exactly 1: the last eligible member');
  assert.equal(pickWeightedRandom([1, 1, 1], [true, true, true, true], 0.99), 2, 'members beyond the weights are none');
  assert.equal(random.name, 'random');
  assert.equal(random.keyHash('a@b'), 0);
  assert.equal(ALGORITHM_IMPLS.random, random);
});

test('sticky: the highest score wins, ties to the first member; a key\'s pick depends on its domain only', () => {
  const members = ['smtp0:', 'smtp1:', 'smtp2:'].map(hashKey);
  const eligible = { priority: 0, members: [true, true, true], weights: [1, 1, 1], excludedBy: [undefined, undefined, undefined] };
  const pick = (key: string, e = eligible): number => sticky.pick(e, { current: [0, 0, 0], keyHash: sticky.keyHash(key), memberHashes: members, random: () => 0 });
  assert.equal(pick('a@example.com'), pick('b@EXAMPLE.com'), 'same domain, same member');
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[pick(`u@d${i}.example`)]!++;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `equal weights share evenly: ${counts.join(' ')}`);
  const heavy = { ...eligible, weights: [4, 1, 1] };
  const h = [0, 0, 0];
  for (let i = 0; i < 3000; i++) h[pick(`u@d${i}.example`, heavy)]!++;
  assert.ok(h[0]! > 1800 && h[0]! < 2200, `4:1:1 gives the first about two thirds: ${h.join(' ')}`);
  const without = { ...eligible, members: [true, false, true], weights: [1, 0, 1] };
  for (let i = 0; i < 300; i++) {
    const before = pick(`u@d${i}.example`);
    const after = pick(`u@d${i}.example`, without);
    if (before !== 1) assert.equal(after, before, 'taking a member out moves only its own keys');
    else assert.notEqual(after, 1);
  }
  assert.equal(sticky.pick({ ...eligible, members: [false, false, false] }, { current: [0, 0, 0], keyHash: 1, memberHashes: members, random: () => 0 }), -1);
  assert.equal(sticky.name, 'sticky');
});

test('master.cf: comments, continuations, both -o forms, spawn user= and argv=', () => {
  const text = [
    '# comment',
    '  # indented comment',
    '',
    'smtp      inet  n       -       y       -       -       smtpd',
    'smtp1     unix  -       -       n       -       -       smtp',
    '  -o smtp_bind_address=192.0.2.11',
    '  -o { syslog_name = postfix-smtp1 }',
    '\t-o smtp_helo_name=mx1.example',
    'postbal   unix  -       n       n       -       0       spawn',
    '  user=nobody argv=/usr/bin/postbal --config /etc/postfix/postbal.cf',
    'broken',
  ].join('\n');
  const s = parseMasterCf(text);
  assert.deepEqual(s.map((x) => [x.line, x.name, x.type, x.private, x.chroot, x.command]), [
    [4, 'smtp', 'inet', 'n', 'y', 'smtpd'],
    [5, 'smtp1', 'unix', '-', 'n', 'smtp'],
    [9, 'postbal', 'unix', '-', 'n', 'spawn'],
  ]);
  assert.deepEqual([...s[1]!.options], [['smtp_bind_address', '192.0.2.11'], ['syslog_name', 'postfix-smtp1'], ['smtp_helo_name', 'mx1.example']]);
  assert.equal(s[2]!.user, 'nobody');
  assert.deepEqual(s[2]!.argv, ['/usr/bin/postbal', '--config', '/etc/postfix/postbal.cf']);
  assert.equal(s[0]!.user, undefined);
  assert.equal(s[0]!.argv, undefined);
  assert.deepEqual(parseMasterCf('  -o x=y\n'), [], 'a continuation with nothing before it is nothing');
  assert.deepEqual([...parseMasterCf('a unix - - - - - smtp -o novalue -o =x -o\n')[0]!.options], [], 'options without name=value are skipped');
});
