import { closeSync, constants, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { lazyRequire } from '../lazy-require.js';
import type * as Crypto from 'node:crypto';

/**
 * Writes `data` to a new file beside `path`, then renames it over `path`, so
 * no reader ever opens a half-written file.
 *
 * The temporary name carries 96 random bits and is created with O_EXCL and
 * O_NOFOLLOW: the directory may belong to another user (the one Postfix runs
 * postbal as), who could otherwise plant a symlink under a name known in
 * advance and have whoever runs this (root, for an administrator's command)
 * write through it. write-file-atomic, used before, names its temporary file
 * from a hash of the pid and a counter and opens it without O_EXCL.
 * @throws the I/O error; the temporary file is gone in every case
 */
export function writeFileAtomicSync(path: string, data: Buffer, mode: number): void {
  // node:crypto is loaded here, not at start: files are created rarely.
  const temp = `${path}.${lazyRequire<typeof Crypto>('node:crypto').randomBytes(12).toString('hex')}.tmp`;
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
    closeSync(fd);
    renameSync(temp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
    try {
      unlinkSync(temp);
    } catch {
      // Renamed or never there.
    }
    throw err;
  }
}
