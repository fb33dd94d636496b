import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineFramer, TOO_LONG } from '../../src/protocol/line-framer.js';
import { percentDecode, percentEncode } from '../../src/protocol/percent.js';
import { decodeTcpTableRequest, encodeTcpTableReply } from '../../src/protocol/tcp-table.js';
import type { Frame } from '../../src/protocol/types.js';

function frames(framer: LineFramer, input: Buffer, piece: number): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < input.length; i += piece) out.push(...framer.feed(input.subarray(i, i + piece)));
  out.push(...framer.end());
  return out;
}

test('line framer: same lines whatever the read size', () => {
  const input = Buffer.from('get a\r\nget b\n\nget c');
  for (const piece of [1, 2, 3, 16, 4096]) {
    const got = frames(new LineFramer(100), input, piece).map((f) => (f === TOO_LONG ? '<tooLong>' : f));
    assert.deepEqual(got, ['get a', 'get b', '', 'get c'], `piece ${piece}`);
  }
});

test('line framer: an over-long line becomes one tooLong frame and the next line is served', () => {
  const input = Buffer.concat([Buffer.from('get '), Buffer.alloc(50, 0x61), Buffer.from('\nget ok\n')]);
  for (const piece of [1, 7, 4096]) {
    const got = frames(new LineFramer(20), input, piece).map((f) => (f === TOO_LONG ? '<tooLong>' : f));
    assert.deepEqual(got, ['<tooLong>', 'get ok'], `piece ${piece}`);
  }
});

test('line framer: the boundary: exactly the limit fits, one more does not', () => {
  const fits = Buffer.concat([Buffer.alloc(20, 0x61), Buffer.from('\n')]);
  const over = Buffer.concat([Buffer.alloc(21, 0x61), Buffer.from('\n')]);
  assert.equal(typeof new LineFramer(20).feed(fits)[0], 'string');
  assert.equal(new LineFramer(20).feed(over)[0], TOO_LONG);
});

test('line framer: property: every LF yields exactly one frame, in order', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 1, max: 64 }), (bytes, piece) => {
    const input = Buffer.from(bytes);
    const lfs = input.filter((b) => b === 0x0a).length;
    const framer = new LineFramer(32);
    let n = 0;
    for (let i = 0; i < input.length; i += piece) n += framer.feed(input.subarray(i, i + piece)).length;
    assert.equal(n, lfs);
  }));
});

test('percent codec: round trip of any bytes', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
    const enc = percentEncode(s);
    // eslint-disable-next-line no-control-regex -- no control byte may survive the encoding
    assert.doesNotMatch(enc, /[\s\x00-\x1f\x7f]/);
    assert.equal(Buffer.from(percentDecode(enc)!, 'latin1').toString('utf8'), Buffer.from(s, 'utf8').toString('utf8'));
  }));
});

test('percent codec: malformed escapes are rejected, not guessed', () => {
  for (const bad of ['%', '%4', '%ZZ', 'a%g1']) assert.equal(percentDecode(bad), undefined, bad);
  assert.equal(Buffer.from(percentDecode('%c3%BC')!, 'latin1').toString('utf8'), 'ü');
});

test('tcp_table: decoding', () => {
  const line = (s: string): Frame => s;
  assert.deepEqual(decodeTcpTableRequest(line('get a%20b@x')), { kind: 'lookup', key: 'a b@x' });
  assert.deepEqual(decodeTcpTableRequest(line('Get x')), { kind: 'lookup', key: 'x' });
  assert.equal(decodeTcpTableRequest(line('get ')).kind, 'invalid');
  assert.equal(decodeTcpTableRequest(line('getx')).kind, 'invalid');
  assert.equal(decodeTcpTableRequest(line('put x y')).kind, 'invalid');
  assert.equal(decodeTcpTableRequest(TOO_LONG).kind, 'invalid');
});

test('tcp_table: encoding, and the 4096-byte reply limit', () => {
  assert.equal(encodeTcpTableReply({ kind: 'found', value: 'smtp1:[relay.example]:25' }), '200 smtp1:[relay.example]:25\n');
  assert.equal(encodeTcpTableReply({ kind: 'found', value: 'smtp: a%b' }), '200 smtp:%20a%25b\n');
  assert.equal(encodeTcpTableReply({ kind: 'notFound', reason: 'not_found' }), '500 not_found\n');
  assert.equal(encodeTcpTableReply({ kind: 'tempFail', reason: 'error:config' }), '400 error:config\n');
  const fits = `smtp:${'x'.repeat(4096 - 5 - 5)}`; // "200 " + value + LF = 4096
  assert.equal(encodeTcpTableReply({ kind: 'found', value: fits }).length, 4096);
  assert.equal(encodeTcpTableReply({ kind: 'found', value: `${fits}x` }), '400 error:reply_too_long\n');
});
