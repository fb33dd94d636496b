import { setTimeout as sleep } from 'node:timers/promises';
import type { PoolConfig } from '../config/types.js';
import type { Logger } from '../log/types.js';
import { hashLo } from '../keys/hash.js';
import type { StateStore } from '../state/types.js';
import { limitRecord } from '../balance/eligibility/rate.js';
import { LEASE_WARMUP, type BalanceState } from '../balance/types.js';
import { ADVANCE_SHARE, PACING_PARTS, localTime } from '../balance/warmup.js';
import { applyFacts, factsOf } from './facts.js';
import { reconcile, type FactRecord } from './reconcile.js';
import { collect, leaseSpecs, newTrack, stageSetHere, type LeaseSpec, type LeaseTrack } from './leases.js';
import type { FleetStore, HostSeen } from './store.js';
import { readFleetStatus, writeFleetStatus, type FleetStatus, type LeaseShown } from './status-file.js';

/**
 * One host's link to the fleet: every `tickMs` it reads the fleet's facts,
 * publishes this host's decisions and applies the others' to the state file
 * (where every lookup reads them, locally), reports what capped and rated
 * transports used and leases more. Lookups never wait on it: when the store
 * is slow or away, the state file keeps what was known (drains, suspensions
 * with their ends) and the leases already granted, and the agent logs one
 * line when the store is lost and one when it is back.
 */

export interface AgentOptions {
  readonly pool: () => PoolConfig;
  readonly state: StateStore;
  readonly fleet: FleetStore;
  readonly host: string;
  readonly version: string;
  readonly logger: Logger;
  /** Where the agent keeps what it agreed with the store, and what status shows (`STATE.fleet`). */
  readonly statusPath: string;
  /** @default 250 */
  readonly tickMs?: number;
  readonly nowMs?: () => number;
}

/** The state file could not take the fleet's facts (its lock busy, or the file unusable): nothing was applied. */
class StateUnusable extends Error {}

export class FleetAgent {
  readonly #o: AgentOptions;
  readonly #now: () => number;
  #synced = new Map<string, FactRecord>();
  #epoch: string | undefined;
  readonly #tracks = new Map<string, LeaseTrack>();
  #lost: { sinceMs: number; error: string } | undefined;
  #lastTickMs = 0;
  #hosts: HostSeen[] = [];
  #shown: LeaseShown[] = [];
  #lastStatusMs = 0;
  #lastSyncMs = 0;
  readonly #warned = new Set<string>();

  constructor(o: AgentOptions) {
    this.#o = o;
    this.#now = o.nowMs ?? Date.now;
    const saved = readFleetStatus(o.statusPath);
    if (saved && saved.host === o.host) {
      this.#synced = new Map(saved.synced);
      this.#epoch = saved.epoch;
    }
  }

  /** Ticks until `signal` aborts, then once more. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const started = this.#now();
      await this.tick();
      const wait = Math.max(10, (this.#o.tickMs ?? 250) - (this.#now() - started));
      await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
    // A last tick: what was answered since the previous one is reported, not left in this process's memory.
    await this.tick();
  }

  async tick(): Promise<void> {
    const now = this.#now();
    const elapsed = this.#lastTickMs === 0 ? 0 : now - this.#lastTickMs;
    this.#lastTickMs = now;
    try {
      await this.#o.fleet.connect();
      const epoch = await this.#o.fleet.epoch(`${this.#o.host}.${now.toString(36)}`);
      const { records, invalid } = await this.#o.fleet.readFacts();
      if (invalid > 0) this.#warnOnce('invalid', `fleet: ${invalid} record(s) in ${this.#o.fleet.key('facts')} are not postbal's and were ignored`);
      const pool = this.#o.pool();
      const specs = leaseSpecs(pool);
      const { publish, forget, wants, stages } = this.#local(pool, specs, records, now, elapsed);
      await this.#o.fleet.writeFacts(publish, forget);
      await this.#lease(pool, specs, wants, stages, epoch !== this.#epoch, now);
      this.#epoch = epoch;
      this.#hosts = await this.#o.fleet.heartbeat(this.#o.host, this.#o.version, now);
      this.#lastSyncMs = now;
      this.#warned.delete('state');
      if (this.#lost) {
        this.#o.logger.log('info', `fleet: store ${this.#o.fleet.key('')} reachable again after ${Math.round((now - this.#lost.sinceMs) / 1000)} s; facts and leases in sync`);
        this.#lost = undefined;
      }
    } catch (err) {
      // The host's own state file, not the store: said once, and the next tick tries again.
      if (err instanceof StateUnusable) this.#warnOnce('state', `fleet: ${err.message}; the fleet's facts wait until it is`);
      else if (!this.#lost) {
        const said = err instanceof Error ? err.message : String(err);
        const why = this.#o.fleet.lastError;
        const error = why && !said.includes(why) ? `${said} ${why}` : said;
        this.#lost = { sinceMs: now, error };
        this.#o.logger.log('warning', `fleet: store lost (${error.slice(0, 200)}); serving from what this host knew: drains, suspensions and leases kept`);
      }
    }
    this.#writeStatus(now);
  }

  /** In one transaction: reconciles the facts, applies the fleet's, collects what leases used. */
  #local(pool: PoolConfig, specs: readonly LeaseSpec[], remote: ReadonlyMap<string, FactRecord>, now: number, elapsed: number): { publish: Map<string, FactRecord>; forget: string[]; wants: number[]; stages: number[] } {
    const day = localTime(now).day;
    const result = this.#o.state.transact(pool, (state, trouble) => {
      const r = reconcile(factsOf(pool, state, trouble.current, now), this.#synced, remote, now, this.#o.host);
      if (r.apply.size > 0) {
        const next = applyFacts(pool, state, trouble.current, r.apply);
        if (next !== trouble.current) trouble.replace(next);
        for (const [f, v] of r.apply) this.#o.logger.log('info', `fleet: ${describeFact(pool, f, v)} (decided by ${r.synced.get(f)?.host ?? 'another host'})`);
      }
      const wants = specs.map((s) => collect(state, s, this.#track(s, now), now, elapsed, day));
      const stages = specs.map((s) => stageSetHere(state, s, this.#track(s, now)));
      return { r, wants, stages };
    });
    if (this.#o.state.info().kind !== 'file') throw new StateUnusable(`the state file ${this.#o.state.info().path ?? ''} is not usable: ${this.#o.state.info().reason ?? 'unknown reason'}`);
    this.#synced = result.r.synced;
    return { publish: result.r.publish, forget: result.r.forget, wants: result.wants, stages: result.stages };
  }

  #track(s: LeaseSpec, now: number): LeaseTrack {
    const key = `${s.kind}:${s.idHex}`;
    let t = this.#tracks.get(key);
    if (!t) this.#tracks.set(key, (t = newTrack(now)));
    return t;
  }

  /** Reports use, gives back idle leases, asks for more; then writes the grants to the state file. */
  async #lease(pool: PoolConfig, specs: readonly LeaseSpec[], wants: readonly number[], stages: readonly number[], republish: boolean, now: number): Promise<void> {
    if (specs.length === 0) return;
    const { day, hour } = localTime(now);
    const held = republish ? this.#o.state.transact(pool, (state) => specs.map((s) => heldBy(state, s, day))) : undefined;
    const grants = await Promise.all(specs.map(async (s, i) => {
      const t = this.#track(s, now);
      if (s.kind === LEASE_WARMUP) {
        const h = held?.[i] ?? { lease: 0, count: 0, stage: 0 };
        const g = await this.#o.fleet.warmLease(s.idHex, [day, hour, t.usedDay || day, republish ? 0 : t.pendingUsed, wants[i]!, t.pendingReturned, republish ? 1 : 0, h.lease + h.count, h.count, h.stage, PACING_PARTS, ADVANCE_SHARE, stages[i]!, ...s.schedule!]);
        return g;
      }
      const g = await this.#o.fleet.rateLease(s.idHex, [s.rate!.count, s.rate!.periodMs, wants[i]!, t.pendingReturned, republish ? held?.[i]?.lease ?? 0 : 0]);
      return g === undefined ? undefined : { stage: 0, grant: g, count: 0, reserved: 0, day };
    }));
    specs.forEach((s, i) => {
      const t = this.#track(s, now);
      if (stages[i]! >= 0) this.#o.logger.log('info', `fleet: ${s.name}: warm-up stage ${stages[i]! + 1} set on this host, now the fleet's`);
      if (grants[i]?.stage !== undefined) t.stage = Math.min(grants[i].stage, s.schedule?.length ?? 0);
      if (grants[i] === undefined) this.#warnOnce(`bad:${s.idHex}`, `fleet: the store's count for ${s.name} is not a sane number; no lease granted until it is fixed (or deleted: ${this.#o.fleet.key(`warm:${s.idHex}`)})`);
      t.pendingUsed = 0;
      t.pendingReturned = 0;
    });
    // The store is not trusted beyond its checks: no more than asked for, no stage past the schedule's end.
    const bounded = grants.map((g, i) => g && { ...g, grant: Math.min(g.grant, wants[i]!), stage: Math.min(g.stage, specs[i]!.schedule?.length ?? 0) });
    const moved: string[] = [];
    this.#shown = this.#o.state.transact(pool, (state) => specs.map((s, i) => grantTo(state, s, bounded[i], day, moved)));
    for (const line of moved) this.#o.logger.log('info', line);
  }

  #warnOnce(key: string, line: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#o.logger.log('warning', line);
  }

  #writeStatus(now: number): void {
    if (now - this.#lastStatusMs < 1000 && this.#lost === undefined) return;
    // Not into a directory the state store refused (others may write there).
    if (this.#o.state.info().kind !== 'file') return;
    this.#lastStatusMs = now;
    const status: FleetStatus = {
      host: this.#o.host, version: this.#o.version, pid: process.pid, writtenMs: now, lastSyncMs: this.#lastSyncMs,
      store: this.#lost ? { up: false, sinceMs: this.#lost.sinceMs, error: this.#lost.error.slice(0, 200) } : { up: true, sinceMs: this.#lastSyncMs },
      epoch: this.#epoch, synced: [...this.#synced], hosts: this.#hosts, leases: this.#shown,
    };
    try {
      writeFleetStatus(this.#o.statusPath, status);
    } catch (err) {
      this.#warnOnce('status', `fleet: cannot write ${this.#o.statusPath}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function heldBy(state: BalanceState, s: LeaseSpec, day: number): { lease: number; count: number; stage: number } {
  const l = limitRecord(state, s.id, s.kind);
  if (s.kind !== LEASE_WARMUP) return { lease: l.lease, count: 0, stage: 0 };
  const w = state.warmup.find((r) => r.id === s.id);
  return { lease: l.tat === day ? l.lease : 0, count: w && w.day === day ? w.count : 0, stage: w?.stage ?? 0 };
}

/** Writes a grant to the state (in a transaction); a stage it changes is pushed to `moved`, to be logged after the lock. */
function grantTo(state: BalanceState, s: LeaseSpec, g: { stage: number; grant: number; count: number; reserved: number; day: number } | undefined, day: number, moved: string[]): LeaseShown {
  const l = limitRecord(state, s.id, s.kind);
  if (g && g.grant > 0) l.lease += g.grant;
  if (s.kind === LEASE_WARMUP && g) {
    if (g.grant >= 0 && g.day === day) l.tat = day;
    const w = state.warmup.find((r) => r.id === s.id);
    if (w && w.stage !== g.stage) {
      moved.push(`fleet: ${s.name}: warm-up stage ${g.stage + 1} (the fleet's; it was ${w.stage + 1} here)`);
      w.stage = g.stage;
    }
  }
  return { name: s.name, kind: s.kind === LEASE_WARMUP ? 'warmup' : 'rate', lease: l.lease, fleetCount: g?.count ?? 0, fleetReserved: g?.reserved ?? 0, stage: g?.stage ?? 0 };
}

function describeFact(pool: PoolConfig, field: string, value: string | null): string {
  const id = parseInt(field.slice(2, 10), 16);
  const t = pool.transports.find((_, i) => hashLo(pool.memberHashes[i]!) === id)?.value ?? field.slice(2, 10);
  if (field.startsWith('d:')) return `${t} ${value === '1' ? 'drained' : 'undrained'} by the fleet`;
  if (field.startsWith('h:')) return value === null ? `${t} marked up by the fleet` : `${t} ${value.startsWith('1') ? 'down' : 'back up'} by the fleet's feedback`;
  return `${t} ${value === null ? 'no longer suspended' : 'suspended'} for ${field.slice(11)} by the fleet`;
}
