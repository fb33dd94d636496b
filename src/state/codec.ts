import { crc32 } from './crc32.js';
import {
  HEADER_BLOCK_BYTES, HEADER_FIXED_BYTES, MAGIC, TRANSPORT_ID_BYTES, TRANSPORT_RECORD_BYTES, VERSION, WARMUP_HEAD_BYTES, WARMUP_MAGIC,
  WARMUP_RECORD_BYTES, headerBytes,
} from './layout.js';
import { MAX_WARMUP_RECORDS, type WarmupRecord } from '../balance/warmup.js';
import { hashLo } from '../keys/hash.js';
import { decodeLimits, encodeLimits, limitsBytes, limitsRoom } from './limits-codec.js';
import type { BalanceState } from './types.js';

/** What identifies a pool in a state file. */
export interface PoolIdentity {
  readonly fingerprint: number;
  /** hashKey() of each member's value (config/types.ts). */
  readonly memberHashes: readonly number[];
}

/**
 * Parses and serialises the state header. Pure.
 */

export interface DecodedHeader {
  readonly fingerprint: number;
  readonly memoSlots: number;
  readonly state: BalanceState;
  /** Low 32 bits of each member's hash, in state order. */
  readonly ids: readonly number[];
  /** A warm-up table was there but failed its checks: the stages it held are lost (state.warmup is empty). */
  readonly warmupCorrupt: boolean;
}

export type HeaderProblem = 'empty' | 'foreign' | 'version' | 'corrupt' | 'pool';

/** A fresh state for a pool of `count` transports. */
export function freshState(count: number, nowMs: number): BalanceState {
  return {
    seq: 0,
    statsSince: nowMs,
    transports: Array.from({ length: count }, () => ({ current: 0, picks: 0, repeats: 0, flags: 0 })),
    troubleGen: 0,
    warmup: [],
    limits: [],
  };
}

/** Serialises the header for `state` into a buffer of exactly headerBytes(n). */
export function encodeHeader(state: BalanceState, pool: PoolIdentity, memoSlots: number): Buffer {
  const n = state.transports.length;
  const { fingerprint } = pool;
  // The table must stay within the header's page (one pwrite): records past the room are dropped.
  const records = state.warmup.slice(0, Math.max(0, warmupRoom(n)));
  const warm = records.length === 0 ? 0 : WARMUP_HEAD_BYTES + WARMUP_RECORD_BYTES * records.length;
  const limits = state.limits.slice(0, limitsRoom(headerBytes(n) + warm));
  const b = Buffer.alloc(headerBytes(n) + warm + limitsBytes(limits.length));
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt32LE(VERSION, 8);
  b.writeUInt32LE(n, 12);
  b.writeUInt32LE(fingerprint >>> 0, 16);
  b.writeUInt32LE(memoSlots, 20);
  b.writeDoubleLE(state.seq, 24);
  b.writeDoubleLE(state.statsSince, 32);
  b.writeUInt32LE(state.troubleGen >>> 0, 40);
  for (let i = 0; i < n; i++) {
    const t = state.transports[i]!;
    const off = HEADER_FIXED_BYTES + i * TRANSPORT_RECORD_BYTES;
    b.writeDoubleLE(t.current, off);
    b.writeDoubleLE(t.picks, off + 8);
    b.writeUInt32LE(Math.min(t.repeats, 0xffffffff), off + 16);
    b.writeUInt32LE(t.flags >>> 0, off + 20);
    b.writeUInt32LE(hashLo(pool.memberHashes[i] ?? 0), idOffset(n, i));
  }
  b.writeUInt32LE(crc32(b.subarray(8, headerBytes(n))), 4);
  if (warm > 0) encodeWarmup(b, headerBytes(n), records);
  if (limits.length > 0) encodeLimits(b, headerBytes(n) + warm, limits);
  return b;
}

/** How many warm-up records fit in the header page after `n` transports. */
export function warmupRoom(n: number): number {
  return Math.floor((HEADER_BLOCK_BYTES - headerBytes(n) - WARMUP_HEAD_BYTES) / WARMUP_RECORD_BYTES);
}

function encodeWarmup(b: Buffer, at: number, records: readonly WarmupRecord[]): void {
  b.writeUInt32LE(WARMUP_MAGIC, at);
  b.writeUInt32LE(records.length, at + 4);
  records.forEach((r, k) => {
    const o = at + WARMUP_HEAD_BYTES + k * WARMUP_RECORD_BYTES;
    b.writeUInt32LE(r.id >>> 0, o);
    b.writeUInt32LE(r.stage >>> 0, o + 4);
    b.writeInt32LE(r.day | 0, o + 8);
    b.writeUInt32LE(Math.min(r.count, 0xffffffff) >>> 0, o + 12);
    b.writeDoubleLE(r.sinceMs, o + 16);
  });
  b.writeUInt32LE(crc32(b.subarray(at + WARMUP_HEAD_BYTES, at + WARMUP_HEAD_BYTES + records.length * WARMUP_RECORD_BYTES)), at + 8);
}

/**
 * The warm-up table after the header: [] when absent (or not read), 'corrupt'
 * when present but failing its checks (every stage then starts again at 1).
 */
function decodeWarmup(bytes: Buffer, at: number, n: number): WarmupRecord[] | 'corrupt' {
  if (bytes.length < at + WARMUP_HEAD_BYTES || bytes.readUInt32LE(at) !== WARMUP_MAGIC) return [];
  const w = bytes.readUInt32LE(at + 4);
  const end = at + WARMUP_HEAD_BYTES + w * WARMUP_RECORD_BYTES;
  if (w > warmupRoom(n)) return 'corrupt';
  // Not read whole (a caller that reads just the header): nothing to say about it.
  if (bytes.length < end) return [];
  if (crc32(bytes.subarray(at + WARMUP_HEAD_BYTES, end)) !== bytes.readUInt32LE(at + 8)) return 'corrupt';
  const out: WarmupRecord[] = [];
  for (let k = 0; k < w; k++) {
    const o = at + WARMUP_HEAD_BYTES + k * WARMUP_RECORD_BYTES;
    const sinceMs = bytes.readDoubleLE(o + 16);
    out.push({ id: bytes.readUInt32LE(o), stage: bytes.readUInt32LE(o + 4), day: bytes.readInt32LE(o + 8), count: bytes.readUInt32LE(o + 12), sinceMs: Number.isFinite(sinceMs) ? sinceMs : 0 });
  }
  return out;
}

/**
 * Decodes a header read from the start of a state file.
 * @param bytes at least the fixed header; more is ignored
 * @returns the header, or the reason it cannot be used
 */
export function decodeHeader(bytes: Buffer, expectFingerprint?: number): DecodedHeader | HeaderProblem {
  if (bytes.length === 0) return 'empty';
  if (bytes.length < HEADER_FIXED_BYTES || bytes.readUInt32LE(0) !== MAGIC) return 'foreign';
  if (bytes.readUInt32LE(8) !== VERSION) return 'version';
  const n = bytes.readUInt32LE(12);
  const size = headerBytes(n);
  if (n === 0 || bytes.length < size) return 'corrupt';
  if (crc32(bytes.subarray(8, size)) !== bytes.readUInt32LE(4)) return 'corrupt';
  const fingerprint = bytes.readUInt32LE(16);
  if (expectFingerprint !== undefined && fingerprint !== expectFingerprint >>> 0) return 'pool';
  const transports = [];
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(bytes.readUInt32LE(idOffset(n, i)));
    const off = HEADER_FIXED_BYTES + i * TRANSPORT_RECORD_BYTES;
    transports.push({
      current: bytes.readDoubleLE(off),
      picks: bytes.readDoubleLE(off + 8),
      repeats: bytes.readUInt32LE(off + 16),
      flags: bytes.readUInt32LE(off + 20),
    });
  }
  const seq = bytes.readDoubleLE(24);
  const statsSince = bytes.readDoubleLE(32);
  if (!Number.isFinite(seq) || !Number.isFinite(statsSince) || transports.some((t) => !Number.isFinite(t.current) || !Number.isFinite(t.picks))) {
    return 'corrupt';
  }
  const table = decodeWarmup(bytes, size, n);
  const warmup = table === 'corrupt' ? [] : table;
  const warmBytes = table === 'corrupt' ? 0 : table.length === 0 ? 0 : WARMUP_HEAD_BYTES + WARMUP_RECORD_BYTES * table.length;
  // A corrupt limits table loses GCRA times and leases: rates start afresh, a fleet host leases again.
  const limitsTable = table === 'corrupt' ? [] : decodeLimits(bytes, size + warmBytes);
  const limits = limitsTable === 'corrupt' ? [] : limitsTable;
  return { fingerprint, memoSlots: bytes.readUInt32LE(20), state: { seq, statsSince, transports, troubleGen: bytes.readUInt32LE(40), warmup, limits }, ids, warmupCorrupt: table === 'corrupt' };
}

function idOffset(n: number, i: number): number {
  return HEADER_FIXED_BYTES + TRANSPORT_RECORD_BYTES * n + TRANSPORT_ID_BYTES * i;
}

/**
 * The state for a changed pool: fresh counters and positions (the old ones
 * describe other weights), but the flags (drain marks) of every member that
 * is still in the pool, found by its value's hash.
 */
export function carryOver(old: DecodedHeader, pool: PoolIdentity, nowMs: number): BalanceState {
  const flagsById = new Map<number, number>();
  old.ids.forEach((id, i) => flagsById.set(id, old.state.transports[i]!.flags));
  const state = freshState(pool.memberHashes.length, nowMs);
  state.seq = old.state.seq;
  // The trouble region is kept: its entries name transports by value, as drain marks do.
  state.troubleGen = old.state.troubleGen;
  // A transport keeps its warm-up stages and today's counts while it stays
  // listed (records are pruned by the first serving transaction, which knows
  // which transports and providers warm; commands keep them as they are).
  state.warmup = old.state.warmup.slice(0, MAX_WARMUP_RECORDS);
  // Leases and rate times belong to transports by id, as warm-up records do.
  state.limits = old.state.limits.map((l) => ({ ...l }));
  pool.memberHashes.forEach((h, i) => {
    state.transports[i]!.flags = flagsById.get(hashLo(h)) ?? 0;
  });
  return state;
}

export function describeHeaderProblem(p: HeaderProblem): string {
  switch (p) {
    case 'empty': return 'state file is empty';
    case 'foreign': return 'not a postbal state file (bad magic)';
    case 'version': return `state file has an unknown format version (expected ${VERSION})`;
    case 'corrupt': return 'state file header is corrupt (checksum or size mismatch)';
    case 'pool': return 'state file was written for a different pool';
    default: {
      const unreachable: never = p;
      return unreachable;
    }
  }
}
