/**
 * The policy router (policy/router.ts) in the process, with small real
 * services on loopback, the board in memory and the clock passed in: tiers
 * and weights as for lookups, failover, the breaker's trip rule on both
 * sides of its limits, the trial after the breaker's time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyRouter, TRIP_AFTER, TRIP_WINDOW_MS } from '../../src/policy/router.js';
import { PolicyBoard } from '../../src/policy/board.js';
import { allDownOf, readRecord, writeAllDown } from '../../src/policy/board-codec.js';
import type { BackendSpec } from '../../src/policy/backend.js';
import { closedPort, request, service } from '../helpers/policy-service.js';

const spec = (name: string, port: number, priority = 1, weight = 1, timeoutMs = 5000): BackendSpec => ({ name, host: '127.0.0.1', port, priority, weight, timeoutMs });

function router(specs: BackendSpec[], clock: { now: number }, breakerMs = 30_000) {
  const lines: string[] = [];
  const board = new PolicyBoard(undefined, specs, { warn: (m) => lines.push(m), nowMs: () => clock.now });
  const r = new PolicyRouter(specs, { defaultAction: 'dunno', breakerMs, board, log: (_l, m) => lines.push(m), nowMs: () => clock.now });
  const ask = async (n: number, tag = 'r'): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await r.route(Buffer.from(request(`${tag}${i}@example.com`)))).toString().trim());
    return out;
  };
  return { r, board, lines, ask, close: () => { r.close(); board.close(); } };
}

const named = (name: string) => (): string => `action=ok ${name}\n\n`;

test('policy router: weights 3:1 within a tier in exact smooth-WRR order; a lower priority number first', async () => {
  const [a, b, c] = await Promise.all([service(named('a')), service(named('b')), service(named('c'))]);
  const clock = { now: 1_000_000 };
  const t = router([spec('c', c.port, 10), spec('a', a.port, 5, 3), spec('b', b.port, 5, 1)], clock);
  try {
    assert.deepEqual(await t.ask(8), ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a'].map((n) => `action=ok ${n}`));
    assert.equal(c.answered(), 0, 'priority 10 waits while priority 5 answers');
  } finally {
    t.close();
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

test('policy router: an unreachable service trips at once for every request; after the breaker time one trial, and it is back when it answers', async () => {
  const port = await closedPort();
  const b = await service(named('b'));
  const clock = { now: 1_000_000 };
  const t = router([spec('a', port, 1), spec('b', b.port, 2)], clock, 30_000);
  try {
    assert.deepEqual(await t.ask(3), ['action=ok b', 'action=ok b', 'action=ok b']);
    assert.equal(t.lines.filter((l) => /policy service a .*failed: ECONNREFUSED; every instance skips it for 30s/.test(l)).length, 1, t.lines.join('\n'));
    clock.now += 29_999;
    await t.ask(1);
    assert.equal(t.lines.filter((l) => /failed/.test(l)).length, 1, 'still held 1 ms before its time: not asked');
    clock.now += 1;
    assert.deepEqual(await t.ask(2), ['action=ok b', 'action=ok b'], 'its trial failed: held again, quietly');
    assert.equal(t.lines.filter((l) => /failed/.test(l)).length, 1);
  } finally {
    t.close();
    await b.close();
  }
});

test('policy router: a service that stalls trips after TRIP_AFTER distinct requests within TRIP_WINDOW_MS, not fewer, not spread out', async () => {
  const slow = await service(named('slow'), true);
  const b = await service(named('b'));
  const clock = { now: 1_000_000 };
  const t = router([spec('slow', slow.port, 1, 1, 200), spec('b', b.port, 2)], clock);
  try {
    // TRIP_AFTER - 1 failures: each fails over, nothing trips.
    assert.deepEqual(await t.ask(TRIP_AFTER - 1, 'x'), new Array(TRIP_AFTER - 1).fill('action=ok b'));
    assert.equal(t.lines.filter((l) => /skips it/.test(l)).length, 0, t.lines.join('\n'));
    // Spread out: the streak starts again after the window.
    clock.now += TRIP_WINDOW_MS + 1;
    await t.ask(TRIP_AFTER - 1, 'y');
    assert.equal(t.lines.filter((l) => /skips it/.test(l)).length, 0, 'failures far apart are not one outage');
    assert.ok(t.lines.some((l) => /failed one request: no reply within 200 ms.*1 of 3 in a row/.test(l)), t.lines.join('\n'));
    await t.ask(1, 'z');
    assert.equal(t.lines.filter((l) => /skips it/.test(l)).length, 1, 'the TRIP_AFTER-th within the window trips');
    const asked = slow.received.length;
    await t.ask(3, 'w');
    assert.equal(slow.received.length, asked, 'held: not asked');
  } finally {
    t.close();
    await Promise.all([slow.close(), b.close()]);
  }
});

test('policy router: the breaker\'s trial goes to one request, and a service that answers it is back for every request', async () => {
  const a = await service(named('a'), true);
  const b = await service(named('b'));
  const clock = { now: 1_000_000 };
  try {
    const t2 = router([spec('a', a.port, 1, 1, 150), spec('b', b.port, 2)], clock, 10_000);
    try {
      assert.deepEqual(await t2.ask(TRIP_AFTER), new Array(TRIP_AFTER).fill('action=ok b'));
      assert.equal(t2.lines.filter((l) => /skips it for 10s/.test(l)).length, 1);
      a.setHang(false);
      assert.deepEqual(await t2.ask(2), ['action=ok b', 'action=ok b'], 'held for its breaker time');
      clock.now += 10_000;
      assert.deepEqual(await t2.ask(2), ['action=ok a', 'action=ok a'], 'the trial answered: back');
      assert.ok(t2.lines.some((l) => /policy service a .* answers again after 10s/.test(l)), t2.lines.join('\n'));
    } finally {
      t2.close();
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('policy router: no service answers: the default action, said once; the first answer after it said once', async () => {
  const port = await closedPort();
  const clock = { now: 1_000_000 };
  const t = router([spec('a', port)], clock, 1000);
  try {
    assert.deepEqual(await t.ask(3), ['action=dunno', 'action=dunno', 'action=dunno']);
    assert.equal(t.lines.filter((l) => /no service answers; answering "action=dunno"/.test(l)).length, 1);
  } finally {
    t.close();
  }
});

test('policy router: counters and failures on the board; failover within a tier by weight; the default action said and unsaid', async () => {
  const port = await closedPort();
  const heavy = await service(named('heavy'));
  const light = await service(named('light'));
  const clock = { now: 1_000_000 };
  const t = router([spec('dead', port, 1, 5), spec('light', light.port, 1, 1), spec('heavy', heavy.port, 1, 3)], clock, 1000);
  try {
    // dead has the highest weight: it is picked first, fails, and the next is the heaviest of the rest.
    assert.equal((await t.ask(1))[0], 'action=ok heavy');
    await t.ask(7);
    t.r.flush();
    const page = t.board.read();
    const [dead, l, h] = [readRecord(page, 0), readRecord(page, 1), readRecord(page, 2)];
    assert.equal(dead.failures, 1, 'refused once, then held by its breaker');
    assert.equal(dead.lastFailure, 'ECONNREFUSED');
    assert.equal(dead.answered, 0);
    assert.equal(l.answered + h.answered, 8);
    assert.equal(h.answered, 6, 'heavy:light 3:1 once dead is held');
    assert.ok(h.latencySumMs > 0 && h.latencySumMs < 60_000, `latency summed (${h.latencySumMs} ms)`);
    assert.equal(dead.downUntil, 1_000_000 + 1000);
    assert.equal(dead.streak, 1);
    // Everything gone: the default action, said once; a service back: said once.
    await Promise.all([heavy.close(), light.close()]);
    clock.now += 2000;
    const fallback = await t.ask(2);
    assert.deepEqual(fallback, ['action=dunno', 'action=dunno']);
    assert.equal(allDownOf(t.board.read()), true);
    const again = await service(named('again'));
    const t2 = router([spec('again', again.port)], clock, 1000);
    try {
      t2.board.update((p) => writeAllDown(p, true));
      assert.deepEqual(await t2.ask(1), ['action=ok again']);
      assert.equal(allDownOf(t2.board.read()), false);
      assert.deepEqual(t2.lines.filter((x) => /default action no longer in use/.test(x)).length, 1);
    } finally {
      t2.close();
      await again.close();
    }
  } finally {
    t.close();
  }
});
