import { readSync } from 'node:fs';
import type { PoolConfig } from '../config/types.js';
import { decodeHeader } from './codec.js';
import { headerBytes } from './layout.js';

/**
 * The transports' flags (drain marks) and trouble generation in a state
 * file's header, read without the lock: a header is written by one pwrite
 * and carries a CRC, so a read that races a write fails its check and says
 * nothing (undefined), never something half old and half new. Reads just
 * this pool's part of the page: it runs for every repeat lookup.
 * @param buf scratch, at least headerBytes(pool.transports.length)
 */
export function peekHeaderFlags(fd: number, buf: Buffer, pool: PoolConfig): { flags: readonly number[]; troubleGen: number } | undefined {
  const n = readSync(fd, buf, 0, headerBytes(pool.transports.length), 0);
  const decoded = decodeHeader(buf.subarray(0, n), pool.fingerprint);
  if (typeof decoded === 'string' || decoded.state.transports.length !== pool.transports.length) return undefined;
  return { flags: decoded.state.transports.map((t) => t.flags), troubleGen: decoded.state.troubleGen };
}
