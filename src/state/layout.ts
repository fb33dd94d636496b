/**
 * The state file's binary layout. Fixed offsets let one lookup update the
 * file with a single small in-place write instead of a temp file and rename
 * (0.005 ms against 0.2 ms here; see the README's design notes).
 *
 *   0      header block (one 4 KiB page, so one pwrite replaces it whole)
 *          0  magic "PBS1"          4  crc32 of [8, headerBytes)
 *          8  version u32          12  transport count u32
 *         16  pool fingerprint u32 20  memo slot count u32
 *         24  seq f64 (picks since the state was created)
 *         32  statsSince f64 (ms since the epoch)
 *         40  trouble generation u32 (0: no trouble region yet)
 *         44  reserved to 64
 *         64  per transport, 24 bytes: current f64, picks f64,
 *             repeats u32, flags u32 (bit 0: drained)
 *         64 + 24n  per transport, u32: low 32 bits of the hash of its
 *             value, so drain marks can follow it into a changed pool
 *         64 + 28n  warm-up table, present when a transport warms (outside
 *             the header's CRC, so older builds read such files unchanged):
 *             magic "PBW1", record count w u32, crc32 of the records, 0;
 *             then w x 24 bytes: id u32, stage u32, day i32, count u32,
 *             sinceMs f64 (balance/warmup.ts)
 *         then  limits table, present when a transport has a rate or the
 *             pool is in a fleet (state/limits-codec.ts): magic "PBL1",
 *             count u32, crc32, 0; then x 24 bytes: id u32, kind u32
 *             (1 fleet warm-up lease, 2 rate), lease u32, used u32, tat f64
 *   4096   lock table: 256 x 16-byte slots (see state/bakery-lock.ts):
 *          pid u32, choosing u32, number u32, reserved u32
 *   8192   memo: slot count x 16-byte slots (see state/memo.ts)
 *   8192 + 16 x slots   trouble region, TROUBLE_BYTES (state/trouble-codec.ts):
 *          what postbal feedback found (transports down, suspensions per
 *          destination); rewritten whole under the lock, and read by an
 *          instance only when the header's trouble generation changed
 *   then   tally region, 4 KiB (state/tally.ts): counters for postbal
 *          metrics, added to under the lock at most once a second per process
 *
 * All integers little-endian.
 */

export const MAGIC = 0x31534250; // "PBS1" read as little-endian u32
export const VERSION = 2;
export const HEADER_FIXED_BYTES = 64;
export const TRANSPORT_RECORD_BYTES = 24;
export const HEADER_BLOCK_BYTES = 4096;
/** Bounded so the whole header fits one page (config/limits.ts). */
export { MAX_TRANSPORTS } from '../config/limits.js';
export const LOCK_TABLE_OFFSET = HEADER_BLOCK_BYTES;
/** More instances than Postfix ever runs against one table (one per trivial-rewrite connection). */
export const LOCK_SLOTS = 256;
export const LOCK_SLOT_BYTES = 16;
export const MEMO_OFFSET = LOCK_TABLE_OFFSET + LOCK_SLOTS * LOCK_SLOT_BYTES;
export const MEMO_SLOT_BYTES = 16;

export const TRANSPORT_ID_BYTES = 4;
export const WARMUP_MAGIC = 0x31574250; // "PBW1" read as little-endian u32
export const WARMUP_HEAD_BYTES = 16;
export const WARMUP_RECORD_BYTES = 24;
export const LIMITS_MAGIC = 0x314c4250; // "PBL1" read as little-endian u32
export const LIMITS_HEAD_BYTES = 16;
export const LIMITS_RECORD_BYTES = 24;

export function headerBytes(transportCount: number): number {
  return HEADER_FIXED_BYTES + (TRANSPORT_RECORD_BYTES + TRANSPORT_ID_BYTES) * transportCount;
}

export function fileBytes(memoSlots: number): number {
  return MEMO_OFFSET + memoSlots * MEMO_SLOT_BYTES;
}

/**
 * The trouble region (state/trouble-codec.ts) follows the memo. Version 2
 * ("PBT2") keeps a suspension's reason up to 400 bytes, so status can show a
 * remote reply whole (version 1, "PBT1", cut it at 80 bytes); a version 1
 * region, written by an older build, is still read.
 */
export const TROUBLE_BYTES = 36_864;
export const TROUBLE_MAGIC = 0x32544250; // "PBT2" read as little-endian u32
export const TROUBLE_MAGIC_V1 = 0x31544250; // "PBT1"
export const TROUBLE_BYTES_V1 = 16_384;
export const TROUBLE_HEADER_BYTES = 32;
export const TROUBLE_TRANSPORT_BYTES = 32;
export const MAX_SUSPENSIONS = 64;
export const SUSPENSION_BYTES = 480;
export const SUSPENSION_BYTES_V1 = 160;
export const SUSPENSION_DESTINATION_BYTES = 64;
export const SUSPENSION_REASON_BYTES = 400;
export const SUSPENSION_REASON_BYTES_V1 = 80;

export function troubleOffset(memoSlots: number): number {
  return fileBytes(memoSlots);
}

/** The tally region (state/tally.ts, 4 KiB) follows the trouble region. */
export function tallyOffset(memoSlots: number): number {
  return troubleOffset(memoSlots) + TROUBLE_BYTES;
}
