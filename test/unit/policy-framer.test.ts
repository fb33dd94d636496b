import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PolicyFramer, type PolicyFrame } from '../../src/protocol/policy.js';

function run(framer: { feed(c: Buffer): PolicyFrame[]; pendingBytes: number }, input: Buffer, cuts: number[]): { frames: string[]; pending: number } {
  const frames: string[] = [];
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < input.length)].sort((x, y) => x - y).concat(input.length)) {
    for (const f of framer.feed(input.subarray(at, cut))) frames.push(f.kind === 'request' ? f.raw.toString('latin1') : '<tooLong>');
    at = cut;
  }
  return { frames, pending: framer.pendingBytes };
}

test('policy framer: requests split at any byte give the same frames as read whole', () => {
  const piece = fc.oneof(fc.constantFrom('\n', '\n\n', '\n\n\n', 'a=b', 'request=smtpd_access_policy', 'x'.repeat(40)), fc.string({ maxLength: 12 }));
  fc.assert(fc.property(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(400), { maxLength: 12 }), fc.integer({ min: 8, max: 120 }), (pieces, cuts, max) => {
    const input = Buffer.from(pieces.join(''), 'latin1');
    assert.deepEqual(run(new PolicyFramer(max), input, cuts), run(new PolicyFramer(max), input, []));
  }), { numRuns: Number(process.env.FUZZ_RUNS ?? 300) });
});

test('policy framer: the usual cases', () => {
  const f = new PolicyFramer(64);
  assert.deepEqual(f.feed(Buffer.from('\n\na=1\nb=2\n')), []);
  const [one] = f.feed(Buffer.from('\nc=3\n'));
  assert.equal(one?.kind === 'request' ? one.raw.toString() : '', 'a=1\nb=2\n\n');
  assert.equal(f.pendingBytes, 4);
  assert.deepEqual(f.feed(Buffer.from(`\nbig=${'x'.repeat(100)}\n\nd=4\n\n`)).map((x) => x.kind), ['request', 'tooLong', 'request']);
});
