/**
 * The one serving loop (io/serve.ts) with streams in the process: request
 * order with answers that come later, exactly one reply per request whatever
 * the handler does, the deadline, and input read only as far as the peer
 * takes replies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { MAX_WAITING, serveConnection, type ServeHooks } from '../../src/io/serve.js';
import { lookupWireFor, policyWire, tcpTableWire } from '../../src/protocol/wire.js';
import type { Outcome, Request } from '../../src/protocol/types.js';

/** A peer that keeps what it reads; `hold` makes it stop taking bytes until `release`. */
class Peer extends Writable {
  text = '';
  #held: (() => void)[] = [];
  holding = false;
  constructor() {
    super({ highWaterMark: 64 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('latin1');
    if (this.holding) this.#held.push(done);
    else done();
  }
  release(): void {
    this.holding = false;
    for (const done of this.#held.splice(0)) done();
  }
}

const found = (r: Request): Outcome => (r.kind === 'lookup' ? { kind: 'found', value: `smtp:${r.key}` } : { kind: 'tempFail', reason: r.reason });

function hooks<Req, Out>(over: Partial<ServeHooks<Req, Out>> & Pick<ServeHooks<Req, Out>, 'handle'>): ServeHooks<Req, Out> & { errors: unknown[] } {
  const errors: unknown[] = [];
  return { internalError: (e) => errors.push(e), ...over, errors };
}

test('answers that come later still leave in request order, one slice at a time', async () => {
  const input = new PassThrough();
  const peer = new Peer();
  let inFlight = 0;
  let most = 0;
  const h = hooks<Request, Outcome>({
    handle: async (rs) => {
      inFlight++;
      most = Math.max(most, inFlight);
      // Later requests answer sooner: order must come from the loop.
      const first = rs[0]!;
      await new Promise((r) => setTimeout(r, first.kind === 'lookup' && first.key === 'a' ? 30 : 1));
      inFlight--;
      return rs.map(found);
    },
  });
  const done = serveConnection(input, peer, () => ({ ...tcpTableWire(), slice: 1 }), h);
  input.end('get a\nget b\nget c\n');
  assert.equal(await done, 'eof');
  assert.equal(peer.text, '200 smtp:a\n200 smtp:b\n200 smtp:c\n');
  assert.equal(most, 1);
  assert.deepEqual(h.errors, []);
});

test('a handler that throws, rejects, answers too few or too many: each request still gets exactly one reply', async () => {
  const cases: [string, ServeHooks<Request, Outcome>['handle']][] = [
    ['throws', () => { throw new Error('bug'); }],
    ['rejects', () => Promise.reject(new Error('bug'))],
    ['too few', (rs) => rs.slice(1).map(found)],
    ['too many', (rs) => [...rs, ...rs].map(found)],
  ];
  for (const [name, handle] of cases) {
    const input = new PassThrough();
    const peer = new Peer();
    const h = hooks({ handle });
    const done = serveConnection(input, peer, lookupWireFor, h);
    input.end('get a\nget b\n');
    assert.equal(await done, 'eof', name);
    assert.equal(peer.text, '400 error:internal\n400 error:internal\n', name);
    assert.equal(h.errors.length, 1, `${name}: reported once`);
  }
});

test('a hook that throws after the reply loses nothing', async () => {
  const input = new PassThrough();
  const peer = new Peer();
  const h = hooks<Request, Outcome>({ handle: (rs) => rs.map(found), replied: () => { throw new Error('hook'); }, afterFirstReply: () => { throw new Error('first'); } });
  const done = serveConnection(input, peer, lookupWireFor, h);
  input.end('get a\nget b\n');
  await done;
  assert.equal(peer.text, '200 smtp:a\n200 smtp:b\n');
  assert.ok(h.errors.length >= 2);
});

test('a slice past its deadline gets the failure answer; the next request is served', async () => {
  const input = new PassThrough();
  const peer = new Peer();
  const dflt = Buffer.from('action=dunno\n\n');
  const h = hooks<Buffer | undefined, Buffer>({
    deadlineMs: 50,
    handle: ([raw]) => (raw!.includes('hang') ? new Promise<never>(() => {}) : Promise.resolve([Buffer.from('action=ok\n\n')])),
  });
  const done = serveConnection(input, peer, () => policyWire(dflt), h);
  input.end('request=hang\n\nrequest=fine\n\n');
  assert.equal(await done, 'eof');
  assert.equal(peer.text, 'action=dunno\n\naction=ok\n\n');
  assert.match(String(h.errors[0]), /no answer within 50 ms/);
});

test('an oversized policy request is answered (the handler sees undefined), the next one is forwarded', async () => {
  const input = new PassThrough();
  const peer = new Peer();
  const seen: (string | undefined)[] = [];
  const wire = policyWire(Buffer.from('action=dunno\n\n'));
  const done = serveConnection(input, peer, () => wire, hooks<Buffer | undefined, Buffer>({
    handle: ([raw]) => {
      seen.push(raw?.toString('latin1'));
      return [raw ? Buffer.from('action=ok\n\n') : wire.failure];
    },
  }));
  input.end(`big=${'x'.repeat(300_000)}\n\nsmall=1\n\nhalf=`);
  await done;
  assert.deepEqual(seen, [undefined, 'small=1\n\n']);
  assert.equal(peer.text, 'action=dunno\n\naction=ok\n\n');
  assert.equal(wire.unfinishedBytes, 5);
});

test('a peer that stops reading stops the reading: frames read ahead stay bounded, and all are answered once it reads', async () => {
  const input = new PassThrough({ highWaterMark: 1024 });
  const peer = new Peer();
  peer.holding = true;
  let handled = 0;
  const done = serveConnection(input, peer, () => policyWire(Buffer.from('action=dunno\n\n')), hooks<Buffer | undefined, Buffer>({
    handle: async ([raw]) => {
      handled++;
      await Promise.resolve();
      return [Buffer.from(`action=ok ${raw!.toString('latin1').trim()}\n\n`)];
    },
  }));
  const total = 5000;
  let written = 0;
  // Writes as fast as the loop takes them, like a client pipelining without reading.
  const writer = (async () => {
    while (written < total) {
      if (!input.write(`n=${written}\n\n`)) await new Promise((r) => input.once('drain', r));
      written++;
    }
    input.end();
  })();
  // Wait until the loop stops taking input: the writer is blocked and nothing moves.
  let last = -1;
  while (last !== written) {
    last = written;
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(written < total, `input kept flowing to a peer that reads nothing (${written} written)`);
  assert.ok(handled <= MAX_WAITING + 64, `${handled} requests handled ahead of a peer that reads nothing`);
  peer.release();
  await writer;
  assert.equal(await done, 'eof');
  const replies = peer.text.split('\n\n').filter(Boolean);
  assert.equal(replies.length, total);
  replies.forEach((r, i) => assert.equal(r, `action=ok n=${i}`));
});

test('a broken netstring: the requests before it answered, then PERM, then the connection ends', async () => {
  const input = new PassThrough();
  const peer = new Peer();
  const framing: string[] = [];
  const done = serveConnection(input, peer, lookupWireFor, hooks<Request, Outcome>({
    handle: (rs) => rs.map(() => ({ kind: 'found', value: 'smtp0:' })),
    framingError: (r) => framing.push(r),
  }));
  input.write('13:postbal alice,x:garbage');
  assert.equal(await done, 'framing-error');
  assert.match(peer.text, /^9:OK smtp0:,\d+:PERM /);
  assert.equal(framing.length, 1);
});
