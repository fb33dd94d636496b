/**
 * socketmap(5) on the same binary: told apart from tcp_table by the first
 * byte, netstring framing, replies, and framing errors (answered PERM, then
 * the connection is closed: nothing after a broken netstring can be framed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { POOL_321, runPostbal, tempDir } from '../helpers/postbal.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 15);
const SEEDS: number[] = [];

const ns = (payload: string | Buffer): Buffer => {
  const b = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from(`${b.length}:`), b, Buffer.from(',')]);
};

/** Splits a socketmap reply stream into payloads, checking the framing of every reply. */
function replies(out: string): string[] {
  const buf = Buffer.from(out, 'latin1');
  const list: string[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const colon = buf.indexOf(0x3a, pos);
    assert.ok(colon > pos, `a length at ${pos}: ${JSON.stringify(out)}`);
    const len = Number(buf.toString('latin1', pos, colon));
    assert.ok(Number.isInteger(len) && len <= 100_000);
    assert.equal(buf[colon + 1 + len], 0x2c, `comma after reply at ${pos}`);
    list.push(buf.toString('utf8', colon + 1, colon + 1 + len));
    pos = colon + 2 + len;
  }
  return list;
}

test('socketmap: lookups answered in order, whatever the read size; "*" and out-of-scope keys NOTFOUND', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', 'match = !local.example\n{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n');
    const input = Buffer.concat(['postbal a@example.com', 'transport b@example.com', 'x *', 'postbal u@local.example', 'postbal c@example.com', 'postbal key with spaces@x', 'nospace', 'name '].map(ns));
    for (const chunk of [undefined, 1, 7]) {
      const r = await runPostbal(['-c', cfg, '-s', 'none', '--syslog', 'none'], input, chunk ? { chunk } : {});
      assert.deepEqual(replies(r.stdout), ['OK smtp0:', 'OK smtp1:', 'NOTFOUND ', 'NOTFOUND ', 'OK smtp0:', 'OK smtp2:', 'PERM malformed request', 'PERM malformed request']);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
    }
  } finally {
    t.cleanup();
  }
});

test('socketmap: no usable config answers TEMP (Postfix defers, nothing is lost)', async () => {
  const r = await runPostbal(['-c', '/nonexistent/p.cf', '-s', 'none', '--syslog', 'none'], ns('postbal a@x'));
  assert.deepEqual(replies(r.stdout), ['TEMP error:config']);
});

test('socketmap: framing errors are answered PERM, the connection closed, exit 0, nothing on stderr', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    for (const [name, tail, reason] of [
      ['missing comma', Buffer.from('3:abcX'), /^PERM expected "," after 3 bytes/],
      ['bad length', Buffer.from('1x:a,'), /^PERM expected ":" after the netstring length/],
      ['too long', Buffer.from('100001:'), /^PERM netstring of 100001 bytes exceeds the limit of 100000/],
      ['too many digits', Buffer.from('00000000001:a,'), /^PERM netstring length has more than 6 digits/],
      ['truncated at EOF', Buffer.from('10:abc'), /^PERM connection closed in the middle of a netstring/],
      ['garbage after a good one', Buffer.from('hello'), /^PERM expected a netstring length/],
    ] as const) {
      const after = name === 'truncated at EOF' ? [] : [ns('postbal never@x')];
      const r = await runPostbal(['-c', cfg, '-s', 'none', '--log-stderr'], Buffer.concat([ns('postbal a@x'), tail, ...after]));
      const got = replies(r.stdout);
      assert.equal(got.length, 2, name);
      assert.equal(got[0], 'OK smtp0:', name);
      assert.match(got[1]!, reason, name);
      assert.equal(r.code, 0, name);
      assert.match(r.stderr, /socketmap: .*answered PERM and closed the connection/, name);
    }
    // Under Postfix nothing goes to stderr: the same with the default logger off.
    const quiet = await runPostbal(['-c', cfg, '-s', 'none', '--syslog', 'none'], Buffer.from('5:ab'));
    assert.equal(quiet.stderr, '');
  } finally {
    t.cleanup();
  }
});

/** A stream piece: a request netstring, or bytes that break the framing where they start. */
type Piece = { kind: 'request'; payload: Buffer } | { kind: 'break'; bytes: Buffer };
const token = fc.string({ unit: fc.constantFrom(...'abXZ09.-_@+% *:,'.split('')), maxLength: 20 });
const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(token, token).map(([n, k]): Piece => ({ kind: 'request', payload: Buffer.from(`${n} ${k}`) })) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 30 }).map((a): Piece => ({ kind: 'request', payload: Buffer.from(a) })) },
  { weight: 1, arbitrary: fc.constantFrom('x', ':', ',', '3:abcd', '1234567', '200000:', '-1:a,', ' 1:a,').map((b): Piece => ({ kind: 'break', bytes: Buffer.from(b) })) },
);

function expectedReply(payload: Buffer): RegExp {
  const text = payload.toString('latin1');
  const space = text.indexOf(' ');
  if (space < 0 || space === text.length - 1) return /^PERM malformed request$/;
  return text.slice(space + 1) === '*' ? /^NOTFOUND $/ : /^OK smtp[012]:$/;
}

test('fuzz (socketmap): one reply per netstring in order; a framing error ends with one PERM; never stderr', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const property = fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 3000 }), fc.boolean(), async (pieces, chunk, truncate) => {
      let input = Buffer.concat(pieces.map((p) => (p.kind === 'request' ? ns(p.payload) : p.bytes)));
      const cut = pieces.findIndex((p) => p.kind === 'break');
      const answered = (cut < 0 ? pieces : pieces.slice(0, cut)) as { kind: 'request'; payload: Buffer }[];
      let broken = cut >= 0;
      if (truncate && !broken) {
        // Drop the last byte: the last netstring is incomplete at EOF.
        input = input.subarray(0, input.length - 1);
        answered.pop();
        broken = true;
      }
      fc.pre(input.length > 0 && input[0]! >= 0x30 && input[0]! <= 0x39);
      const r = await runPostbal(['-c', cfg, '-s', 'none', '--syslog', 'none'], input, { chunk });
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
      const got = replies(r.stdout);
      assert.equal(got.length, answered.length + (broken ? 1 : 0), 'one reply per netstring, plus one PERM for a break');
      answered.forEach((p, i) => assert.match(got[i]!, expectedReply(p.payload), `request ${i}`));
      if (broken) assert.match(got[got.length - 1]!, /^PERM /);
    });
    for (const seed of SEEDS) await fc.assert(property, { seed, numRuns: 1 });
    await fc.assert(property, { numRuns: RUNS });
  } finally {
    t.cleanup();
  }
});
