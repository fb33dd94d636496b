import { readSync } from 'node:fs';
import type { PoolConfig } from '../config/types.js';
import { decodeHeader } from './codec.js';
import type { BalanceState } from './types.js';

/**
 * A state file's header read without the lock: a header is written by one
 * pwrite and carries a CRC, so a read that races a write fails its check and
 * says nothing (undefined), never something half old and half new. Reads
 * `bytes` of it: just this pool's part for the flags of a repeat lookup, the
 * whole page (warm-up records too) for the daemon's check that no one else
 * wrote.
 * @param buf scratch, at least `bytes` long
 */
export function peekHeaderState(fd: number, buf: Buffer, pool: PoolConfig, bytes: number): BalanceState | undefined {
  const n = readSync(fd, buf, 0, bytes, 0);
  const decoded = decodeHeader(buf.subarray(0, n), pool.fingerprint);
  if (typeof decoded === 'string' || decoded.state.transports.length !== pool.transports.length) return undefined;
  return decoded.state;
}
