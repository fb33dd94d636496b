import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NetstringFramer, netstring } from '../../src/protocol/netstring.js';
import { decodeSocketmapRequest, encodeSocketmapReply } from '../../src/protocol/socketmap.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

test('netstring framer: the same frames whatever the split (property)', () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 10 }),
    fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 10 }),
    (payloads, cuts) => {
      const stream = Buffer.concat(payloads.map((p) => Buffer.concat([bytes(`${p.length}:`), Buffer.from(p), bytes(',')])));
      const framer = new NetstringFramer(100_000);
      const frames: string[] = [];
      let pos = 0;
      let k = 0;
      while (pos < stream.length) {
        const n = cuts[k++ % cuts.length]!;
        const r = framer.feed(stream.subarray(pos, pos + n));
        assert.equal(r.error, undefined);
        frames.push(...r.frames);
        pos += n;
      }
      assert.equal(framer.end(), undefined);
      assert.deepEqual(frames, payloads.map((p) => Buffer.from(p).toString('latin1')));
    },
  ));
});

test('netstring framer: the first error stops it; nothing after it is framed', () => {
  const f = new NetstringFramer(100_000);
  const r = f.feed(bytes('3:abc,2:xyZ5:hello,'));
  assert.deepEqual(r.frames, ['abc']);
  assert.match(r.error!, /expected "," after 2 bytes/);
  assert.deepEqual(f.feed(bytes('5:hello,')), { frames: [] });
  assert.equal(f.end(), undefined);
  assert.match(new NetstringFramer(100).feed(bytes('101:')).error!, /exceeds the limit of 100/);
  assert.match(new NetstringFramer(100).feed(bytes('0001:')).error!, /more than 3 digits/);
  const partial = new NetstringFramer(100);
  assert.deepEqual(partial.feed(bytes('5:he')), { frames: [] });
  assert.match(partial.end()!, /in the middle of a netstring/);
});

test('socketmap codec: requests and every reply kind', () => {
  assert.deepEqual(decodeSocketmapRequest('transport user@example.com'), { kind: 'lookup', key: 'user@example.com' });
  assert.deepEqual(decodeSocketmapRequest('name key with spaces'), { kind: 'lookup', key: 'key with spaces' });
  assert.equal(decodeSocketmapRequest('nospace').kind, 'invalid');
  assert.equal(decodeSocketmapRequest('name ').kind, 'invalid');
  assert.equal(encodeSocketmapReply({ kind: 'found', value: 'smtp1:[relay.example]:25' }), '27:OK smtp1:[relay.example]:25,');
  assert.equal(encodeSocketmapReply({ kind: 'notFound', reason: 'x' }), '9:NOTFOUND ,');
  assert.equal(encodeSocketmapReply({ kind: 'tempFail', reason: 'error:config' }), '17:TEMP error:config,');
  assert.equal(encodeSocketmapReply({ kind: 'permFail', reason: 'bad\nthing' }), '14:PERM bad thing,');
  // Lengths count bytes, not characters.
  assert.equal(netstring('OK retry:4.3.2 bücher'), '22:OK retry:4.3.2 bücher,');
});
