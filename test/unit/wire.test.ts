/**
 * The wires (protocol/wire.ts) and the tcp_table codec on both sides of
 * each limit: which protocol a first byte starts, each decode reason, each
 * encoded kind, and how each wire frames, ends and fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INTERNAL_ERROR, lookupWireFor, policyWire, socketmapWire, tcpTableWire } from '../../src/protocol/wire.js';
import { decodeTcpTableRequest, encodeTcpTableReply } from '../../src/protocol/tcp-table.js';
import { TOO_LONG } from '../../src/protocol/line-framer.js';

test('wire: the first byte tells socketmap (a digit) from tcp_table (anything else)', () => {
  const kind = (b: string): string => String(lookupWireFor(Buffer.from(b)).fatalReply('x'));
  assert.equal(kind('0'), '6:PERM x,');
  assert.equal(kind('9'), '6:PERM x,');
  assert.equal(kind('/'), '400 x\n', '0x2f, just below 0');
  assert.equal(kind(':'), '400 x\n', '0x3a, just above 9');
  assert.equal(kind('g'), '400 x\n');
  assert.equal(String(lookupWireFor(Buffer.alloc(0)).fatalReply('x')), '400 x\n', 'no byte: tcp_table');
});

test('wire: tcp_table frames lines, decodes each, and answers an internal error with 400 error:internal', () => {
  const w = tcpTableWire();
  const framed = w.feed(Buffer.from('get a\nget b'));
  assert.deepEqual(framed, { frames: ['get a'] });
  assert.deepEqual(w.end(), { frames: ['get b'] });
  assert.deepEqual(w.decode('get a'), { kind: 'lookup', key: 'a' });
  assert.equal(w.encode(w.failure), '400 error:internal\n');
  assert.equal(w.failure, INTERNAL_ERROR);
  assert.equal(w.slice, 256);
});

test('wire: socketmap frames netstrings, says a break is fatal (in a chunk or at the end), and decodes a frame', () => {
  const w = socketmapWire();
  assert.deepEqual(w.feed(Buffer.from('9:postbal a,')), { frames: ['postbal a'] });
  assert.deepEqual(w.end(), { frames: [] });
  const broken = socketmapWire();
  const r = broken.feed(Buffer.from('x'));
  assert.equal(r.frames.length, 0);
  assert.match(r.fatal ?? '', /expected a netstring length/);
  const cut = socketmapWire();
  assert.deepEqual(cut.feed(Buffer.from('9:postb')), { frames: [] });
  assert.match(cut.end().fatal ?? '', /.+/, 'input ended inside a netstring');
  assert.deepEqual(w.decode('postbal a@b'), { kind: 'lookup', key: 'a@b' });
  assert.equal(w.decode(TOO_LONG).kind, 'invalid');
  assert.equal(w.encode({ kind: 'found', value: 'smtp0:' }), '9:OK smtp0:,');
  assert.equal(w.slice, 256);
});

test('wire: policy frames requests whole, an oversized one as undefined, never fatal; failure is the default action', () => {
  const dflt = Buffer.from('action=dunno\n\n');
  const w = policyWire(dflt);
  const r = w.feed(Buffer.from(`a=1\n\nb=${'x'.repeat(70_000)}\n\nc=3\n\nd=`));
  assert.equal(r.frames.length, 3);
  assert.equal(r.frames[0]!.toString(), 'a=1\n\n');
  assert.equal(r.frames[1], undefined);
  assert.equal(r.frames[2]!.toString(), 'c=3\n\n');
  assert.equal(r.fatal, undefined);
  assert.deepEqual(w.end(), { frames: [] });
  assert.equal(w.unfinishedBytes, 2);
  assert.equal(w.decode(r.frames[0]), r.frames[0]);
  assert.equal(w.encode(dflt), dflt);
  assert.equal(w.failure, dflt);
  assert.equal(w.fatalReply('x'), dflt);
  assert.equal(w.slice, 1, 'one request at a time: each may go to a backend and back');
});

test('tcp_table: each decode reason, and the verb in any case', () => {
  const reason = (line: string): string => {
    const r = decodeTcpTableRequest(line);
    return r.kind === 'invalid' ? r.reason : `lookup ${r.key}`;
  };
  assert.equal(reason('get a'), 'lookup a');
  assert.equal(reason('GeT a'), 'lookup a');
  assert.equal(reason('get %41%20b'), 'lookup A b');
  assert.equal(reason(''), 'empty request line');
  assert.equal(reason('get'), 'request is not "get KEY"');
  assert.equal(reason('get '), 'request is not "get KEY"');
  assert.equal(reason('put a'), 'unknown request verb (only "get" is supported)');
  assert.equal(reason('gat a'), 'unknown request verb (only "get" is supported)');
  assert.equal(reason('geu a'), 'unknown request verb (only "get" is supported)');
  assert.equal(reason('getx a'), 'request is not "get KEY"');
  assert.equal(reason('get %zz'), 'malformed %XX escape in key');
  assert.equal(reason('get %'), 'malformed %XX escape in key');
  assert.equal(reason(TOO_LONG as never), 'request line too long');
  assert.equal(decodeTcpTableRequest('get ').kind, 'invalid');
});

test('tcp_table: each reply kind, a reply at and over 4,096 bytes', () => {
  assert.equal(encodeTcpTableReply({ kind: 'found', value: 'smtp0:[a b]' }), '200 smtp0:[a%20b]\n');
  assert.equal(encodeTcpTableReply({ kind: 'notFound', reason: 'not found' }), '500 not%20found\n');
  assert.equal(encodeTcpTableReply({ kind: 'tempFail', reason: 'x' }), '400 x\n');
  assert.equal(encodeTcpTableReply({ kind: 'permFail', reason: 'y z' }), '400 y%20z\n');
  const fits = 'v'.repeat(4096 - 5);
  assert.equal(encodeTcpTableReply({ kind: 'found', value: fits }), `200 ${fits}\n`);
  assert.equal(encodeTcpTableReply({ kind: 'found', value: `${fits}v` }), '400 error:reply_too_long\n');
});
