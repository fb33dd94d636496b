import { crc32 } from './crc32.js';
import { HEADER_BLOCK_BYTES, LIMITS_HEAD_BYTES, LIMITS_MAGIC, LIMITS_RECORD_BYTES } from './layout.js';
import type { LimitRecord } from '../balance/types.js';

/**
 * The limits table: rate limits' GCRA times and the fleet's leases
 * (balance/eligibility/rate.ts, fleet/agent.ts), after the warm-up table in
 * the header page, with its own magic and CRC (older builds never read
 * there). Pure.
 */

/** How many limit records fit in the page after `used` bytes. */
export function limitsRoom(used: number): number {
  return Math.max(0, Math.floor((HEADER_BLOCK_BYTES - used - LIMITS_HEAD_BYTES) / LIMITS_RECORD_BYTES));
}

/** Bytes the table takes for `count` records (0: no table). */
export function limitsBytes(count: number): number {
  return count === 0 ? 0 : LIMITS_HEAD_BYTES + LIMITS_RECORD_BYTES * count;
}

export function encodeLimits(b: Buffer, at: number, records: readonly LimitRecord[]): void {
  b.writeUInt32LE(LIMITS_MAGIC, at);
  b.writeUInt32LE(records.length, at + 4);
  records.forEach((r, k) => {
    const o = at + LIMITS_HEAD_BYTES + k * LIMITS_RECORD_BYTES;
    b.writeUInt32LE(r.id >>> 0, o);
    b.writeUInt32LE(r.kind >>> 0, o + 4);
    b.writeUInt32LE(Math.min(Math.max(0, r.lease), 0xffffffff) >>> 0, o + 8);
    b.writeUInt32LE(Math.min(Math.max(0, r.used), 0xffffffff) >>> 0, o + 12);
    b.writeDoubleLE(r.tat, o + 16);
  });
  b.writeUInt32LE(crc32(b.subarray(at + LIMITS_HEAD_BYTES, at + limitsBytes(records.length))), at + 8);
}

/** The table at `at`: [] when absent or not read whole, 'corrupt' when it fails its checks. */
export function decodeLimits(bytes: Buffer, at: number): LimitRecord[] | 'corrupt' {
  if (bytes.length < at + LIMITS_HEAD_BYTES || bytes.readUInt32LE(at) !== LIMITS_MAGIC) return [];
  const count = bytes.readUInt32LE(at + 4);
  if (count > limitsRoom(at)) return 'corrupt';
  const end = at + limitsBytes(count);
  if (bytes.length < end) return [];
  if (crc32(bytes.subarray(at + LIMITS_HEAD_BYTES, end)) !== bytes.readUInt32LE(at + 8)) return 'corrupt';
  const out: LimitRecord[] = [];
  for (let k = 0; k < count; k++) {
    const o = at + LIMITS_HEAD_BYTES + k * LIMITS_RECORD_BYTES;
    const tat = bytes.readDoubleLE(o + 16);
    out.push({ id: bytes.readUInt32LE(o), kind: bytes.readUInt32LE(o + 4), lease: bytes.readUInt32LE(o + 8), used: bytes.readUInt32LE(o + 12), tat: Number.isFinite(tat) ? tat : 0 });
  }
  return out;
}
