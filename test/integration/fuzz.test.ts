/**
 * Protocol fuzzing against the built binary (fast-check): random and mutated
 * request streams, fed in random piece sizes. Every complete line gets exactly
 * one reply, in order, of the kind the line calls for; nothing on stderr; exit
 * 0 at EOF. `npm test` runs a bounded slice; `npm run fuzz` runs many more
 * (FUZZ_RUNS). A failure prints its seed: add it to SEEDS to keep it as a
 * regression case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { POOL_321, runPostbal, tempDir } from '../helpers/postbal.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 15);
/** Seeds of past failures, replayed on every run. */
const SEEDS: number[] = [];
const MAX_LINE = 64 * 1024;

/** What a line must be answered with, from the protocol rules alone. */
function expectedKind(line: Buffer): '200' | '400' | '500' {
  let l = line;
  if (l.length > 0 && l[l.length - 1] === 0x0d) l = l.subarray(0, l.length - 1);
  if (line.length > MAX_LINE) return '400';
  if (l.length < 5 || l.subarray(0, 4).toString('latin1').toLowerCase() !== 'get ') return '400';
  const raw = l.subarray(4).toString('latin1');
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return '400';
  const key = raw.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  if (key.length === 0) return '400';
  return key === '*' ? '500' : '200';
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const keyChars = fc.string({ unit: fc.constantFrom(...'abcXYZ019.-_@+=%'.split('')), minLength: 0, maxLength: 30 });
const line = fc.oneof(
  keyChars.map((k) => bytes(`get ${k}@example.com`)),
  keyChars.map((k) => bytes(`GET ${k}`)),
  fc.constantFrom('get *', 'get %2A', 'get', 'get ', '', 'put a b', 'get a%2', 'get %zz', 'get %25%20%0D', 'get x\r', '\r', 'hello').map(bytes),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a.filter((b) => b !== 0x0a))),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.concat([bytes('get '), Buffer.from(a.filter((b) => b !== 0x0a))])),
  fc.integer({ min: MAX_LINE - 8, max: MAX_LINE + 8 }).map((n) => Buffer.concat([bytes('get '), Buffer.alloc(n - 4, 0x61)])),
  fc.constant(Buffer.alloc(200_000, 0x62)),
);

test('fuzz: one reply per line, in order, of the right kind; nothing on stderr', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const property = fc.asyncProperty(
      fc.array(line, { minLength: 1, maxLength: 60 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 5000 }),
      async (lines, finalNewline, chunk) => {
        const input = Buffer.concat(lines.flatMap((l, i) => (i < lines.length - 1 || finalNewline ? [l, bytes('\n')] : [l])));
        // A stream starting with a digit is socketmap (fuzzed in socketmap.test.ts).
        fc.pre(!(input[0]! >= 0x30 && input[0]! <= 0x39));
        const answered = finalNewline || lines[lines.length - 1]!.length > 0 ? lines : lines.slice(0, -1);
        const r = await runPostbal(['-c', cfg, '-s', 'none', '--syslog', 'none'], input, { chunk });
        assert.equal(r.stderr, '');
        assert.equal(r.code, 0);
        const replies = r.stdout.split('\n');
        assert.equal(replies.pop(), '', 'output ends with a newline');
        assert.equal(replies.length, answered.length, 'one reply per line');
        answered.forEach((l, i) => {
          const kind = expectedKind(l);
          const reply = replies[i]!;
          assert.equal(reply.slice(0, 3), kind, `line ${i} ${JSON.stringify(l.toString('latin1').slice(0, 60))} got ${reply}`);
          if (kind === '200') assert.match(reply, /^200 smtp[012]:$/);
          if (kind === '400') assert.equal(reply, '400 error:invalid_request');
        });
      },
    );
    for (const seed of SEEDS) await fc.assert(property, { seed, numRuns: 1 });
    await fc.assert(property, { numRuns: RUNS });
  } finally {
    t.cleanup();
  }
});

test('fuzz: 100,000 requests on one connection, and a writer sending one byte at a time', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    let s = '';
    for (let i = 0; i < 100_000; i++) s += i % 1000 === 7 ? 'junk\n' : `get k${i}@x\n`;
    const r = await runPostbal(['-c', cfg, '-s', t.file('state'), '--syslog', 'none'], s, { timeoutMs: 60_000 });
    const replies = r.stdout.split('\n').slice(0, -1);
    assert.equal(replies.length, 100_000);
    assert.equal(replies.filter((x) => x === '400 error:invalid_request').length, 100);
    assert.equal(r.stderr, '');
    const slow = await runPostbal(['-c', cfg, '-s', 'none', '--syslog', 'none'], 'get a@x\nget b@x\n', { chunk: 1 });
    assert.equal(slow.stdout, '200 smtp0:\n200 smtp1:\n');
  } finally {
    t.cleanup();
  }
});
