import { test } from 'node:test';
import assert from 'node:assert/strict';
import { carryOver, decodeHeader, encodeHeader, freshState } from '../../src/state/codec.js';
import { hashKey } from '../../src/keys/hash.js';

const ids = (...values: string[]): number[] => values.map(hashKey);

test('state codec: round trip', () => {
  const s = freshState(3, 1_700_000_000_000);
  s.seq = 12345;
  s.transports[1]!.current = -4;
  s.transports[2]!.picks = 99;
  const b = encodeHeader(s, { fingerprint: 0xdeadbeef, memberHashes: ids('a:', 'b:', 'c:') }, 16384);
  const d = decodeHeader(b, 0xdeadbeef);
  assert.ok(typeof d !== 'string');
  assert.deepEqual(d.state, s);
  assert.equal(d.memoSlots, 16384);
});

test('state codec: every kind of bad header is named', () => {
  const b = encodeHeader(freshState(2, 0), { fingerprint: 7, memberHashes: ids('a:', 'b:') }, 16);
  assert.equal(decodeHeader(Buffer.alloc(0)), 'empty');
  assert.equal(decodeHeader(Buffer.from('hello world, this is not a state file at all, no no no no no no no')), 'foreign');
  assert.equal(decodeHeader(b, 8), 'pool');
  const flipped = Buffer.from(b);
  flipped[30]! ^= 1;
  assert.equal(decodeHeader(flipped), 'corrupt');
  assert.equal(decodeHeader(b.subarray(0, b.length - 1)), 'corrupt');
  const v = Buffer.from(b);
  v.writeUInt32LE(9, 8);
  assert.equal(decodeHeader(v), 'version');
});

test('state codec: a changed pool keeps the drain marks of members still in it, by value', () => {
  const s = freshState(3, 1000);
  s.seq = 50;
  s.transports[0]!.flags = 1;
  s.transports[1]!.picks = 7;
  s.transports[2]!.flags = 1;
  const old = decodeHeader(encodeHeader(s, { fingerprint: 1, memberHashes: ids('a:', 'b:', 'c:') }, 16));
  assert.ok(typeof old !== 'string');
  // c: moved to the front, a: was removed, d: is new.
  const next = carryOver(old, { fingerprint: 2, memberHashes: ids('c:', 'b:', 'd:') }, 2000);
  assert.deepEqual(next.transports.map((t) => t.flags), [1, 0, 0]);
  assert.deepEqual(next.transports.map((t) => t.picks), [0, 0, 0]);
  assert.equal(next.statsSince, 2000);
  assert.equal(next.seq, 50);
});
