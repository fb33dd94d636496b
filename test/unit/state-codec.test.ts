import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHeader, encodeHeader, freshState } from '../../src/state/codec.js';

test('state codec: round trip', () => {
  const s = freshState(3, 1_700_000_000_000);
  s.seq = 12345;
  s.transports[1]!.current = -4;
  s.transports[2]!.picks = 99;
  const b = encodeHeader(s, 0xdeadbeef, 16384);
  const d = decodeHeader(b, 0xdeadbeef);
  assert.ok(typeof d !== 'string');
  assert.deepEqual(d.state, s);
  assert.equal(d.memoSlots, 16384);
});

test('state codec: every kind of bad header is named', () => {
  const b = encodeHeader(freshState(2, 0), 7, 16);
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
