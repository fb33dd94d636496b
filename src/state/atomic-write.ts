import { createRequire } from 'node:module';

/**
 * write-file-atomic, loaded on first use: a state file is created or replaced
 * rarely, and loading the module (and signal-exit with it) at start would add
 * milliseconds to every instance's first reply.
 */
type WriteFileAtomic = { sync(path: string, data: Buffer, opts: { mode: number; fsync: boolean }): void };

let loaded: WriteFileAtomic | undefined;

/** Writes `data` to a temp file beside `path`, then renames it over `path`. */
export function writeFileAtomicSync(path: string, data: Buffer, mode: number): void {
  if (!loaded) {
    // In the CommonJS bundle `require` exists; in the ES module build it does not.
    const req = typeof require === 'function' ? require : createRequire(import.meta.url);
    loaded = req('write-file-atomic') as WriteFileAtomic;
  }
  loaded.sync(path, data, { mode, fsync: false });
}
