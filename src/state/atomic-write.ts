import { lazyRequire } from '../lazy-require.js';

/**
 * write-file-atomic, loaded on first use: a state file is created or replaced
 * rarely, and loading the module (and signal-exit with it) at start would add
 * milliseconds to every instance's first reply.
 */
type WriteFileAtomic = { sync(path: string, data: Buffer, opts: { mode: number; fsync: boolean }): void };

/** Writes `data` to a temp file beside `path`, then renames it over `path`. */
export function writeFileAtomicSync(path: string, data: Buffer, mode: number): void {
  lazyRequire<WriteFileAtomic>('write-file-atomic').sync(path, data, { mode, fsync: false });
}
