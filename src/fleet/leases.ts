import type { PoolConfig } from '../config/types.js';
import { hashLo } from '../keys/hash.js';
import { warmupRecordId } from '../balance/eligibility/warmup.js';
import { limitRecord } from '../balance/eligibility/rate.js';
import { LEASE_WARMUP, LIMIT_RATE, type BalanceState } from '../balance/types.js';
import type { Rate } from '../balance/rate.js';

/**
 * What a fleet host leases: one lease per warm-up count (transport and
 * provider group) and per rated transport. The sizing is pure: a host asks
 * for about a second of its own traffic, so what it holds when mail stops
 * is small, and gives back a lease it has not touched for IDLE_MS.
 */

export const IDLE_MS = 5000;
const MAX_WANT = 1000;

export interface LeaseSpec {
  readonly kind: typeof LEASE_WARMUP | typeof LIMIT_RATE;
  readonly id: number;
  readonly idHex: string;
  /** Warm-up: the schedule; rate: the rate. */
  readonly schedule?: readonly number[];
  readonly rate?: Rate;
  readonly name: string;
}

export function leaseSpecs(pool: PoolConfig): LeaseSpec[] {
  const groups = pool.warmupProviders.length + 1;
  const specs: LeaseSpec[] = [];
  pool.transports.forEach((t, member) => {
    if (t.warmup) {
      for (let g = 0; g < groups; g++) {
        const id = warmupRecordId(pool, member, g);
        specs.push({ kind: LEASE_WARMUP, id, idHex: hex(id), schedule: t.warmup, name: g === 0 ? t.value : `${t.value} (${pool.warmupProviders[g - 1]![0]})` });
      }
    }
    if (t.rate) {
      const id = hashLo(pool.memberHashes[member]!);
      specs.push({ kind: LIMIT_RATE, id, idHex: hex(id), rate: t.rate, name: t.value });
    }
  });
  return specs;
}

export function hex(id: number): string {
  return (id >>> 0).toString(16).padStart(8, '0');
}

/** Per lease, what the agent remembers between ticks. */
export interface LeaseTrack {
  /** Answers taken from the file and not yet reported to the store. */
  pendingUsed: number;
  /** Leases taken back from the file and not yet given back to the store. */
  pendingReturned: number;
  /** The local day `pendingUsed` belongs to (warm-up). */
  usedDay: number;
  /** Answers per second, smoothed. */
  ratePerSec: number;
  lastUseMs: number;
  /** What the file held after the last tick. */
  lease: number;
  /** Warm-up: the stage this agent last wrote from the fleet (another one in the file: an administrator's). */
  stage: number | undefined;
}

export function newTrack(nowMs: number): LeaseTrack {
  return { pendingUsed: 0, pendingReturned: 0, usedDay: 0, ratePerSec: 0, lastUseMs: nowMs, lease: 0, stage: undefined };
}

/** Inside a transaction: the stage an administrator set here since the agent last wrote one (postbal warmup-stage), or -1. */
export function stageSetHere(state: BalanceState, spec: LeaseSpec, track: LeaseTrack): number {
  if (spec.kind !== LEASE_WARMUP || track.stage === undefined) return -1;
  const stage = state.warmup.find((r) => r.id === spec.id)?.stage;
  return stage !== undefined && stage !== track.stage ? stage : -1;
}

/**
 * Inside a transaction: takes what the host used since the last tick (to be
 * reported), and a lease left idle (to be given back). @returns how many to ask for
 */
export function collect(state: BalanceState, spec: LeaseSpec, track: LeaseTrack, nowMs: number, elapsedMs: number, day: number): number {
  const rec = limitRecord(state, spec.id, spec.kind);
  const used = rec.used;
  rec.used = 0;
  if (spec.kind === LEASE_WARMUP && rec.tat !== day) {
    // Yesterday's lease gives nothing today (the lookups void it too); its use was yesterday's.
    rec.lease = 0;
  }
  if (used > 0) {
    if (track.pendingUsed > 0 && track.usedDay !== day) track.pendingUsed = 0;
    track.pendingUsed += used;
    track.usedDay = day;
    track.lastUseMs = nowMs;
  }
  const perSec = elapsedMs > 0 ? (used * 1000) / elapsedMs : 0;
  track.ratePerSec = track.ratePerSec * 0.7 + perSec * 0.3;
  if (rec.lease > 1 && nowMs - track.lastUseMs > IDLE_MS) {
    track.pendingReturned += rec.lease - 1;
    rec.lease = 1;
  }
  // What it used is what its lease allowed: one that ran dry may need far more (it doubles, as a TCP window).
  const dry = rec.lease === 0 && used > 0;
  const target = Math.min(MAX_WANT, Math.max(2, Math.ceil(Math.max(track.ratePerSec, perSec)) + 1, dry ? used * 8 : 0));
  return rec.lease < Math.ceil(target / 2) ? target - rec.lease : 0;
}
