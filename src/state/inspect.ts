import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { decodeHeader, describeHeaderProblem, type DecodedHeader } from './codec.js';
import { HEADER_BLOCK_BYTES, TROUBLE_BYTES, tallyOffset, troubleOffset } from './layout.js';
import { TALLY_BYTES, decodeTally, type Tally } from './tally.js';
import { decodeTrouble, emptyTrouble, troubleReadable } from './trouble-codec.js';
import type { TroubleState } from './types.js';

/**
 * Reads a state file for display, without the lock: a header is one page
 * written by one pwrite, and a read that races a write is caught by the CRC
 * and retried.
 * @returns the header, or a sentence saying why there is none
 */
export function inspectStateFile(path: string): DecodedHeader | string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'none yet: the first lookup of a serving instance creates it';
    if (code === 'ELOOP') return 'state file is a symlink (refused by postbal)';
    return `cannot open state file (${code ?? String(err)})`;
  }
  try {
    if (!fstatSync(fd).isFile()) return 'state file is not a regular file';
    let last = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      const buf = Buffer.alloc(HEADER_BLOCK_BYTES);
      const n = readSync(fd, buf, 0, buf.length, 0);
      const decoded = decodeHeader(buf.subarray(0, n));
      if (typeof decoded !== 'string') return decoded;
      if (n === HEADER_BLOCK_BYTES && buf.readUInt32LE(0) === 0) return 'state file is new (no lookup yet)';
      last = describeHeaderProblem(decoded);
    }
    return last;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the trouble region for display, without the lock; a read torn by a
 * concurrent write fails its CRC and is tried again.
 */
export function inspectTrouble(path: string, memoSlots: number): TroubleState {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return emptyTrouble();
  }
  try {
    const buf = Buffer.alloc(TROUBLE_BYTES);
    for (let attempt = 0; attempt < 5; attempt++) {
      const n = readSync(fd, buf, 0, TROUBLE_BYTES, troubleOffset(memoSlots));
      if (!troubleReadable(buf, n)) return emptyTrouble();
      const t = decodeTrouble(buf.subarray(0, n));
      if (t.health.length > 0 || t.suspensions.length > 0 || buf.readUInt32LE(8) + buf.readUInt32LE(12) === 0) return t;
    }
    return emptyTrouble();
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the tally region (state/tally.ts) for a scrape, without the lock; a
 * read torn by a concurrent write fails its CRC and is tried again. Empty
 * when there is none yet.
 */
export function inspectTally(path: string, memoSlots: number): Tally {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return new Map();
  }
  try {
    const buf = Buffer.alloc(TALLY_BYTES);
    for (let attempt = 0; attempt < 5; attempt++) {
      const n = readSync(fd, buf, 0, TALLY_BYTES, tallyOffset(memoSlots));
      const tally = decodeTally(buf.subarray(0, n));
      if (tally) return tally;
    }
    return new Map();
  } finally {
    closeSync(fd);
  }
}
