/**
 * The framers and codecs on both sides of each limit, with exact messages:
 * netstrings (length digits, ":", ",", the size limit, splits), the line
 * framer (a line at and over its limit, CR, the end of input), %XX (every
 * hex digit's neighbours), socketmap requests, and smtp(8)'s delivery line
 * (its size limit, status, orig_to, domain and relay forms).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetstringFramer, netstring } from '../../src/protocol/netstring.js';
import { LineFramer, TOO_LONG } from '../../src/protocol/line-framer.js';
import { percentDecode, percentEncode } from '../../src/protocol/percent.js';
import { decodeSocketmapRequest } from '../../src/protocol/socketmap.js';
import { parseDeliveryLine } from '../../src/feedback/delivery.js';

test('netstring: each break named with the byte found; the size limit exact; any split', () => {
  const feed = (max: number, ...chunks: string[]) => {
    const f = new NetstringFramer(max);
    const frames: string[] = [];
    let error: string | undefined;
    for (const c of chunks) {
      const r = f.feed(Buffer.from(c, 'latin1'));
      frames.push(...r.frames);
      error ??= r.error;
    }
    return { frames, error, end: f.end() };
  };
  assert.deepEqual(feed(10, '3:abc,', '10:0123456789,'), { frames: ['abc', '0123456789'], error: undefined, end: undefined });
  assert.equal(feed(10, '11:01234567890,').error, 'netstring of 11 bytes exceeds the limit of 10');
  assert.equal(feed(10, 'x').error, 'expected a netstring length (a digit), got byte 0x78');
  assert.equal(feed(10, ':').error, 'expected a netstring length (a digit), got byte 0x3a');
  assert.equal(feed(10, '/').error, 'expected a netstring length (a digit), got byte 0x2f');
  assert.equal(feed(10, '3x').error, 'expected ":" after the netstring length, got byte 0x78');
  assert.equal(feed(10, '3:abcd').error, 'expected "," after 3 bytes of netstring payload, got byte 0x64');
  assert.deepEqual(feed(10, '3', ':a', 'b', 'c', ',2:', 'xy,').frames, ['abc', 'xy']);
  assert.deepEqual(feed(10, '0:,').frames, ['']);
  assert.match(feed(10, '3:ab').end ?? '', /.+/, 'cut short: said at the end');
  assert.equal(feed(10, '3:abc,').end, undefined);
  assert.equal(feed(10, '').end, undefined);
  assert.equal(netstring('\u00e9'), '2:\u00e9,', 'the length counts UTF-8 bytes');
});

test('line framer: a line at its limit is a line, one byte more is TOO_LONG (once), CR before LF dropped, the end of input', () => {
  const f = new LineFramer(5);
  assert.deepEqual(f.feed(Buffer.from('abcde\nabcdef\nx\r\n\r\n')), ['abcde', TOO_LONG, 'x', '']);
  assert.deepEqual(f.feed(Buffer.from('abc')), []);
  assert.deepEqual(f.feed(Buffer.from('de')), []);
  assert.deepEqual(f.end(), ['abcde'], 'exactly the limit at the end');
  const g = new LineFramer(5);
  assert.deepEqual(g.feed(Buffer.from('abc')), []);
  assert.deepEqual(g.feed(Buffer.from('def')), []);
  assert.deepEqual(g.feed(Buffer.from('ghi')), [], 'discarding: nothing kept, nothing said yet');
  assert.deepEqual(g.feed(Buffer.from('\nok\n')), [TOO_LONG, 'ok']);
  const h = new LineFramer(5);
  h.feed(Buffer.from('abcdefgh'));
  assert.deepEqual(h.end(), [TOO_LONG], 'an over-long line cut by the end of input is answered too');
  assert.deepEqual(new LineFramer(5).end(), []);
  assert.deepEqual(new LineFramer(5).feed(Buffer.from('\r\n')), [''], 'a lone CR is an empty line');
  assert.deepEqual(new LineFramer(5).feed(Buffer.from('a\rb\n')), ['a\rb'], 'a CR inside stays');
});

test('%XX: every hex digit and its neighbours; what is encoded', () => {
  assert.equal(percentDecode('%30%39%41%46%61%66'), '09AFaf');
  for (const bad of ['%2/', '%3:', '%4@', '%4G', '%6`', '%6g', '%', '%4', 'a%']) assert.equal(percentDecode(bad), undefined, bad);
  assert.equal(percentDecode('plain'), 'plain');
  assert.equal(percentDecode(''), '');
  assert.equal(percentDecode('a%20b%25'), 'a b%');
  assert.equal(percentEncode('plain:[x]'), 'plain:[x]');
  assert.equal(percentEncode('a b%\u007f\u0000\t'), 'a%20b%25%7F%00%09');
  assert.equal(percentEncode('\u00e9'), '%C3%A9', 'non-ASCII as its UTF-8 bytes');
  assert.equal(percentEncode('~!'), '~!');
});

test('socketmap request: NAME KEY, the map name free; no space or an empty key refused permanently', () => {
  assert.deepEqual(decodeSocketmapRequest('postbal a@b'), { kind: 'lookup', key: 'a@b' });
  assert.deepEqual(decodeSocketmapRequest(' a@b'), { kind: 'lookup', key: 'a@b' }, 'an empty map name is any name');
  assert.deepEqual(decodeSocketmapRequest('m a b'), { kind: 'lookup', key: 'a b' });
  assert.deepEqual(decodeSocketmapRequest('postbal'), { kind: 'invalid', reason: 'socketmap request is not "NAME KEY"', permanent: true });
  assert.deepEqual(decodeSocketmapRequest('postbal '), { kind: 'invalid', reason: 'empty key', permanent: true });
});

test('delivery line: status required, 8 KiB at most, orig_to, the domain without its dot, the relay host', () => {
  const line = (to: string, extra = '', relay = 'mx.Example.net[192.0.2.7]:25', status = 'deferred (x)') => `ABC12: to=<${to}>${extra}, relay=${relay}, delay=1, delays=0/0/0/1, dsn=4.0.0, status=${status}`;
  const ok = parseDeliveryLine(line('u@Example.NET.'));
  assert.ok(ok?.kind === 'delivery');
  assert.deepEqual([ok.delivery.domain, ok.delivery.relayHost, ok.delivery.reason, ok.delivery.status], ['example.net', 'mx.example.net', 'x', 'deferred']);
  assert.deepEqual(parseDeliveryLine(line('u@x', ', orig_to=<alias@x>', 'none', 'sent')), { kind: 'refused', why: 'ambiguous' }, 'orig_to, where the log does not quote: refused');
  const sent = parseDeliveryLine(line('u@x', ', orig_to=<alias@x>', 'none', 'sent'), 'external');
  assert.ok(sent?.kind === 'delivery');
  assert.deepEqual([sent.delivery.relayHost, sent.delivery.reason, sent.delivery.recipient], ['none', '', 'u@x']);
  const bracket = parseDeliveryLine(line('u@x', '', '[192.0.2.7]:25'));
  assert.ok(bracket?.kind === 'delivery');
  assert.equal(bracket.delivery.relayHost, '', 'a relay that is only an address: no host');
  const local = parseDeliveryLine(line('postmaster'));
  assert.ok(local?.kind === 'delivery');
  assert.equal(local.delivery.domain, '');
  assert.deepEqual(parseDeliveryLine(line('u@x', ', orig_to=<a b@x>'), 'external'), { kind: 'refused', why: 'quoted address' }, 'a quoted-only character in orig_to too');
  assert.equal(parseDeliveryLine('ABC12: to=<u@x>, relay=none, delay=1, delays=0/0/0/1, dsn=4.0.0, stat=deferred'), undefined, 'no status: not a delivery line');
  assert.equal(parseDeliveryLine('ABC12: from=<u@x>, status=deferred'), undefined);
  const at = (n: number): string => line(`${'u'.repeat(n)}@x`);
  const limit = at(8192 - at(0).length);
  assert.equal(limit.length, 8192);
  assert.equal(parseDeliveryLine(limit)?.kind, 'delivery', 'exactly 8 KiB is read');
  assert.deepEqual(parseDeliveryLine(at(8193 - at(0).length)), { kind: 'refused', why: 'too long' });
});
