import { accessSync, constants, readSync } from 'node:fs';

/** Whether `path` names a program this process may run. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads up to `size` bytes of an open file from its start (fewer when it
 * shrank meanwhile); the caller checked `size` against its own limit.
 * @throws the I/O error
 */
export function readWhole(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}
