/**
 * The fleet's pure parts: the directives and `rate=`, the GCRA, the facts a
 * host shares (and what a store another client wrote may not make us
 * believe), and how a host and the store agree on them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/parse.js';
import { rateAllows, rateAvailable, rateTake } from '../../src/balance/rate.js';
import { applyFacts, factsOf, validFact } from '../../src/fleet/facts.js';
import { reconcile, type FactRecord } from '../../src/fleet/reconcile.js';
import { freshState } from '../../src/state/codec.js';
import { decodeLimits, encodeLimits, limitsBytes } from '../../src/state/limits-codec.js';
import { Selection } from '../../src/balance/select.js';
import { wrr } from '../../src/balance/algorithms/wrr.js';

const pool = (text: string) => parseConfig(text, 'p.cf').pool;
const refused = (text: string, message: string): void => {
  assert.throws(() => parseConfig(text, 'p.cf'), (e: Error) => e.message.includes(message), `${JSON.stringify(text)} should say ${message}`);
};

test('config: fleet directives and rate=; a password in the URL, a companion without fleet, a bad Sentinel refused', () => {
  const p = pool('{1}smtp0: rate=14/s\n{1}smtp1: rate=500/10min\nfleet = rediss://10.0.0.5:6380/2\nfleet_name = eu\nfleet_host = mx1\nfleet_password_file = /etc/postfix/postbal-redis.pw\nfleet_sentinel = mymaster 10.0.0.5:26379 [::1]:26380\n');
  assert.deepEqual(p.transports[0]!.rate, { count: 14, periodMs: 1000, text: '14/s' });
  assert.deepEqual(p.transports[1]!.rate, { count: 500, periodMs: 600_000, text: '500/10min' });
  assert.equal(p.fleet?.url, 'rediss://10.0.0.5:6380/2');
  assert.equal(p.fleet?.name, 'eu');
  assert.equal(p.fleet?.host, 'mx1');
  assert.deepEqual(p.fleet?.sentinel, { master: 'mymaster', nodes: [{ host: '10.0.0.5', port: 26379 }, { host: '::1', port: 26380 }] });
  assert.equal(pool('{1}smtp0:\nfleet = redis://r:6379\n').fleet?.name, 'postbal');
  refused('{1}smtp0:\nfleet = redis://u:secret@r:6379\n', 'p.cf:2: fleet: expected no password in the URL');
  refused('{1}smtp0:\nfleet = http://r:6379\n', 'p.cf:2: fleet: expected redis://HOST:PORT[/DB]');
  refused('{1}smtp0:\nfleet_name = eu\n', 'p.cf:2: fleet_name: expected a "fleet = redis://HOST:PORT" line to go with it, got none');
  refused('{1}smtp0:\nfleet = redis://r:6379\nfleet_sentinel = mymaster\n', 'p.cf:3: fleet_sentinel: expected the primary\'s name');
  refused('{1}smtp0:\nfleet = redis://r:6379\nfleet = redis://s:6379\n', 'p.cf:3: fleet: expected one "fleet" line (line 2 has one already)');
  refused('{1}smtp0: rate=0/s\n', 'p.cf:1: rate: expected N/PERIOD');
  refused('{1}smtp0: rate=5/week\n', 'p.cf:1: rate: expected N/PERIOD');
});

test('GCRA: a burst of N, then one every period/N; over any span, N plus the rate times the span', () => {
  const rate = { count: 14, periodMs: 1000 };
  let tat = 0;
  let given = 0;
  for (let i = 0; i < 20; i++) if (rateAllows(rate, tat, 10_000)) { tat = rateTake(rate, tat, 10_000); given++; }
  assert.equal(given, 14);
  assert.equal(rateAllows(rate, tat, 10_000 + 71), false);
  assert.equal(rateAllows(rate, tat, 10_000 + 72), true);
  assert.equal(rateAvailable(rate, 0, 5000), 14);
  fc.assert(fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 300 }), (count, gaps) => {
    const r = { count, periodMs: 1000 };
    let t = 0;
    let now = 1_000_000;
    const times: number[] = [];
    for (const g of gaps) {
      now += g;
      if (rateAllows(r, t, now)) { t = rateTake(r, t, now); times.push(now); }
    }
    // GCRA's bound: from any answer on, a span of L ms holds at most count + floor(L / interval) answers
    // (a burst of `count`, then the rate; over one PERIOD at most 2 x count - 1).
    return times.every((x) => times.filter((y) => y >= x && y < x + 1000).length <= 2 * count - 1)
      && times.every((x) => times.filter((y) => y >= x).length <= count + Math.floor(((times.at(-1)! - x) * count) / 1000));
  }));
});

test('rate=: a rated transport is skipped at its rate, host-wide, through the state; on a fleet host it gives only its lease', () => {
  const p = pool('{1}smtp0:\n{1}smtp1: rate=5/min\n');
  const state = freshState(2, 0);
  const sel = new Selection(p, () => undefined);
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}@x.com`);
  sel.begin(state, { health: [], suspensions: [] }, 1_000_000);
  const picked = sel.pick(state, wrr, Math.random, keys, keys.map(() => 0), keys.map((_, i) => i), 1_000_000);
  assert.equal(picked.filter((m) => m === 1).length, 5);
  // The limits table survives the header round trip.
  const b = Buffer.alloc(limitsBytes(state.limits.length) + 8);
  encodeLimits(b, 8, state.limits);
  assert.deepEqual(decodeLimits(b, 8), state.limits);
  b[30] = b[30]! ^ 1;
  assert.equal(decodeLimits(b, 8), 'corrupt');

  const f = pool('{1}smtp0:\n{1}smtp1: rate=5/min\nfleet = redis://r:6379\n');
  const fs = freshState(2, 0);
  const fsel = new Selection(f, () => undefined);
  fsel.begin(fs, { health: [], suspensions: [] }, 1_000_000);
  assert.equal(fsel.pick(fs, wrr, Math.random, keys, keys.map(() => 0), keys.map((_, i) => i), 1_000_000).filter((m) => m === 1).length, 0, 'no lease: none');
  fs.limits[0]!.lease = 3;
  fsel.begin(fs, { health: [], suspensions: [] }, 1_000_000);
  assert.equal(fsel.pick(fs, wrr, Math.random, keys, keys.map(() => 0), keys.map((_, i) => i), 1_000_000).filter((m) => m === 1).length, 3);
  assert.equal(fs.limits[0]!.used, 3);
  assert.equal(fs.limits[0]!.lease, 0);
});

const POOL = pool('{1}smtp0:\n{1}smtp1:\n');

test('facts: a state\'s drains, health and suspensions, applied elsewhere, give the same facts; foreign values refused', () => {
  const s = freshState(2, 0);
  s.transports[1]!.flags = 1;
  const trouble = {
    health: [{ id: POOL.memberHashes[0]! >>> 0, down: true, failures: 3, sinceMs: 100, retryAtMs: 5000, rampMs: 600 }],
    suspensions: [{ id: POOL.memberHashes[1]! >>> 0, destination: 'gmail.com', untilMs: 9000, reason: '421 4.7.0 try later' }],
  };
  const facts = factsOf(POOL, s, trouble, 50);
  for (const [f, v] of facts) assert.ok(validFact(f, v), `${f}=${v}`);
  const other = freshState(2, 0);
  const t2 = applyFacts(POOL, other, { health: [], suspensions: [] }, facts);
  assert.deepEqual(factsOf(POOL, other, t2, 50), facts);
  for (const [f, v] of [['d:0000000g', '1'], ['d:00000001', '2'], ['h:00000001', '1|2|3|4'], ['s:00000001:Gmail.com', '1|x'], ['s:00000001:gmail.com', '1|\u0000'], ['s:00000001:gmail.com', `1|${'x'.repeat(401)}`], ['x:00000001', '1']] as const) {
    assert.equal(validFact(f, v), false, `${f}=${JSON.stringify(v).slice(0, 40)}`);
  }
});

test('reconcile: a local change is published, a newer remote one applied, a fact the store lost republished; any order of hosts converges', () => {
  const rec = (at: number, host: string, v: string | null): FactRecord => ({ at, host, v });
  // A drain typed here.
  let r = reconcile(new Map([['d:00000001', '1']]), new Map([['d:00000001', rec(1, 'b', '0')]]), new Map([['d:00000001', rec(1, 'b', '0')]]), 10, 'a');
  assert.deepEqual(r.publish.get('d:00000001'), rec(10, 'a', '1'));
  // Undrained elsewhere, later.
  r = reconcile(new Map([['d:00000001', '1']]), r.synced, new Map([['d:00000001', rec(20, 'c', '0')]]), 30, 'a');
  assert.equal(r.apply.get('d:00000001'), '0');
  // The store restarted empty: republished as known.
  r = reconcile(new Map([['d:00000001', '0']]), r.synced, new Map(), 40, 'a');
  assert.deepEqual(r.publish.get('d:00000001'), rec(20, 'c', '0'));
  // A first run: a drain here wins over the store's undrain; other facts yield.
  r = reconcile(new Map([['d:00000001', '1'], ['h:00000001', '1|3|1|2|3']]), new Map(), new Map([['d:00000001', rec(5, 'c', '0')], ['h:00000001', rec(5, 'c', null)]]), 50, 'a');
  assert.equal(r.publish.get('d:00000001')?.v, '1');
  assert.equal(r.apply.get('h:00000001'), null);
  // A suspension that ended by itself is forgotten, not published as cleared.
  r = reconcile(new Map(), new Map([['s:00000001:x.com', rec(1, 'b', '60|r')]]), new Map([['s:00000001:x.com', rec(1, 'b', '60|r')]]), 100, 'a');
  assert.deepEqual([...r.publish.keys()], []);
  assert.deepEqual(r.forget, ['s:00000001:x.com']);

  // Hosts deciding in any order end with the same value everywhere: the latest decision.
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.boolean()), { minLength: 1, maxLength: 30 }), (steps) => {
    const names = ['a', 'b', 'c'];
    const local = names.map(() => new Map([['d:00000001', '0']]));
    const synced = names.map(() => new Map<string, FactRecord>());
    const store = new Map<string, FactRecord>();
    let now = 1000;
    const sync = (h: number): void => {
      const out = reconcile(local[h]!, synced[h]!, store, ++now, names[h]!);
      for (const [f, v] of out.apply) local[h]!.set(f, v ?? '0');
      for (const [f, p] of out.publish) if (!store.has(f) || !(store.get(f)!.at > p.at)) store.set(f, p);
      synced[h] = out.synced;
    };
    for (const h of [0, 1, 2]) sync(h);
    let last = local[0]!.get('d:00000001')!;
    for (const [h, drain] of steps) {
      // Typing what is already so decides nothing.
      if (local[h]!.get('d:00000001') === (drain ? '1' : '0')) continue;
      local[h]!.set('d:00000001', drain ? '1' : '0');
      sync(h);
      last = drain ? '1' : '0';
    }
    for (let round = 0; round < 2; round++) for (const h of [0, 1, 2]) sync(h);
    return local.every((l) => l.get('d:00000001') === last);
  }));
});
