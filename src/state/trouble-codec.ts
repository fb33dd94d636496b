import { crc32 } from './crc32.js';
import {
  MAX_SUSPENSIONS, MAX_TRANSPORTS, SUSPENSION_BYTES, SUSPENSION_BYTES_V1, SUSPENSION_DESTINATION_BYTES, SUSPENSION_REASON_BYTES,
  SUSPENSION_REASON_BYTES_V1, TROUBLE_BYTES, TROUBLE_BYTES_V1, TROUBLE_HEADER_BYTES, TROUBLE_MAGIC, TROUBLE_MAGIC_V1, TROUBLE_TRANSPORT_BYTES,
} from './layout.js';
import type { TroubleState } from './types.js';

/**
 * The trouble region, byte by byte (all little-endian):
 *   0  magic "PBT2"  4  crc32 of [8, TROUBLE_BYTES)  8  health count u32
 *  12  suspension count u32  16..32 reserved
 *  32  health records, MAX_TRANSPORTS x 32 bytes: id u32, down u32,
 *      failures u32, rampMs u32, sinceMs f64, retryAtMs f64
 *  32 + 32 x MAX_TRANSPORTS  suspensions, MAX_SUSPENSIONS x 480 bytes:
 *      id u32, reserved u32, untilMs f64, destination 64 bytes, reason 400
 *      bytes (latin1, NUL-padded)
 * Version 1 ("PBT1", older builds) is the same with 16 KiB in all, 160-byte
 * suspensions and 80-byte reasons; it is read, never written.
 * Pure. A region that is missing, torn or not ours decodes as no trouble:
 * what it held is advice, and losing it only means balancing blind again.
 */

const SUSPENSIONS_OFFSET = TROUBLE_HEADER_BYTES + MAX_TRANSPORTS * TROUBLE_TRANSPORT_BYTES;

/** The sizes a region of each version has. */
const VERSIONS = new Map([
  [TROUBLE_MAGIC, { bytes: TROUBLE_BYTES, suspension: SUSPENSION_BYTES, reason: SUSPENSION_REASON_BYTES }],
  [TROUBLE_MAGIC_V1, { bytes: TROUBLE_BYTES_V1, suspension: SUSPENSION_BYTES_V1, reason: SUSPENSION_REASON_BYTES_V1 }],
]);

/** Whether a region read from a file (`n` bytes from its start) is whole enough to decode. */
export function troubleReadable(b: Buffer, n: number): boolean {
  const v = n >= 8 ? VERSIONS.get(b.readUInt32LE(0)) : undefined;
  return v !== undefined && n >= v.bytes;
}

/** The generation after `gen`: never 0, which means "no region yet". */
export function nextTroubleGen(gen: number): number {
  return ((gen + 1) >>> 0) || 1;
}

export function emptyTrouble(): TroubleState {
  return { health: [], suspensions: [] };
}

function putText(b: Buffer, text: string, at: number, max: number): void {
  b.write(text.slice(0, max), at, max, 'latin1');
}

function getText(b: Buffer, at: number, max: number): string {
  const raw = b.subarray(at, at + max);
  const end = raw.indexOf(0);
  return raw.toString('latin1', 0, end < 0 ? max : end);
}

export function encodeTrouble(t: TroubleState): Buffer {
  const b = Buffer.alloc(TROUBLE_BYTES);
  const health = t.health.slice(0, MAX_TRANSPORTS);
  const suspensions = t.suspensions.slice(0, MAX_SUSPENSIONS);
  b.writeUInt32LE(TROUBLE_MAGIC, 0);
  b.writeUInt32LE(health.length, 8);
  b.writeUInt32LE(suspensions.length, 12);
  health.forEach((h, i) => {
    const o = TROUBLE_HEADER_BYTES + i * TROUBLE_TRANSPORT_BYTES;
    b.writeUInt32LE(h.id >>> 0, o);
    b.writeUInt32LE(h.down ? 1 : 0, o + 4);
    b.writeUInt32LE(Math.min(h.failures, 0xffffffff), o + 8);
    b.writeUInt32LE(Math.min(h.rampMs, 0xffffffff), o + 12);
    b.writeDoubleLE(h.sinceMs, o + 16);
    b.writeDoubleLE(h.retryAtMs, o + 24);
  });
  suspensions.forEach((s, i) => {
    const o = SUSPENSIONS_OFFSET + i * SUSPENSION_BYTES;
    b.writeUInt32LE(s.id >>> 0, o);
    b.writeDoubleLE(s.untilMs, o + 8);
    putText(b, s.destination, o + 16, SUSPENSION_DESTINATION_BYTES);
    putText(b, s.reason, o + 16 + SUSPENSION_DESTINATION_BYTES, SUSPENSION_REASON_BYTES);
  });
  b.writeUInt32LE(crc32(b.subarray(8)), 4);
  return b;
}

export function decodeTrouble(b: Buffer): TroubleState {
  const v = b.length >= 8 ? VERSIONS.get(b.readUInt32LE(0)) : undefined;
  if (!v || b.length < v.bytes) return emptyTrouble();
  if (crc32(b.subarray(8, v.bytes)) !== b.readUInt32LE(4)) return emptyTrouble();
  const nh = b.readUInt32LE(8);
  const ns = b.readUInt32LE(12);
  if (nh > MAX_TRANSPORTS || ns > MAX_SUSPENSIONS) return emptyTrouble();
  const t = emptyTrouble();
  for (let i = 0; i < nh; i++) {
    const o = TROUBLE_HEADER_BYTES + i * TROUBLE_TRANSPORT_BYTES;
    t.health.push({
      id: b.readUInt32LE(o), down: b.readUInt32LE(o + 4) === 1, failures: b.readUInt32LE(o + 8), rampMs: b.readUInt32LE(o + 12),
      sinceMs: b.readDoubleLE(o + 16), retryAtMs: b.readDoubleLE(o + 24),
    });
  }
  for (let i = 0; i < ns; i++) {
    const o = SUSPENSIONS_OFFSET + i * v.suspension;
    t.suspensions.push({
      id: b.readUInt32LE(o), untilMs: b.readDoubleLE(o + 8),
      destination: getText(b, o + 16, SUSPENSION_DESTINATION_BYTES),
      reason: getText(b, o + 16 + SUSPENSION_DESTINATION_BYTES, v.reason),
    });
  }
  if (t.health.some((h) => !Number.isFinite(h.sinceMs) || !Number.isFinite(h.retryAtMs)) || t.suspensions.some((s) => !Number.isFinite(s.untilMs))) return emptyTrouble();
  return t;
}
