import { closeSync, constants, fstatSync, openSync, type Stats } from 'node:fs';
import { StateError } from '../errors.js';
import { writeFileAtomicSync } from './atomic-write.js';
import { fileBytes } from './layout.js';
import { checkStateFile, stateErrorOf } from './path-safety.js';
import type { OpenFile } from './memo-io.js';

/**
 * Opening and creating the state file. Creating (and replacing) writes a whole
 * new file beside the path and renames it over it (atomic-write.ts), so no
 * process ever opens a half-written file.
 */

const OPEN_FLAGS = constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export interface OpenedStateFile {
  readonly file: OpenFile;
  readonly stat: Stats;
}

/**
 * Opens the state file for reading and writing and checks who owns it.
 * @returns undefined when there is no file at `path`
 * @throws StateError when the file must not or cannot be used
 */
export function openStateFile(path: string, euid: number): OpenedStateFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new StateError('EUNSAFE', path, 'state file is a symlink: refusing to follow it');
    throw stateErrorOf(path, 'cannot open state file', err);
  }
  try {
    const stat = fstatSync(fd);
    checkStateFile(path, stat, euid);
    return { file: { fd, open: true }, stat };
  } catch (err) {
    closeSync(fd);
    throw stateErrorOf(path, 'cannot examine state file', err);
  }
}

/** Closes a file opened by openStateFile; its memos stop touching it. */
export function closeStateFile(file: OpenFile): void {
  if (!file.open) return;
  file.open = false;
  try {
    closeSync(file.fd);
  } catch {
    // Closing cannot fail in a way that matters here.
  }
}

/**
 * Writes a fresh, empty state file (all zeros, no magic: the first
 * transaction writes a real header) over whatever is at `path`.
 * Lock needs: the sidecar lock, so that creations and replacements do not race.
 * @throws StateError
 */
export function createStateFile(path: string, memoSlots: number, why: 'create' | 'replace'): void {
  try {
    // Root never gets here in another user's directory: it took that user's identity first (io/identity.ts).
    writeFileAtomicSync(path, Buffer.alloc(fileBytes(memoSlots)), 0o600);
  } catch (err) {
    throw stateErrorOf(path, `cannot ${why} state file`, err);
  }
}
