import { fstatSync, lstatSync, readSync } from 'node:fs';
import { StateError } from '../errors.js';
import { BakeryLock } from './bakery-lock.js';
import { FileLock } from './lock.js';
import { LOCK_SLOTS, MAGIC, MEMO_OFFSET, MEMO_SLOT_BYTES } from './layout.js';
import type { OpenFile } from './memo-io.js';
import { checkStateDirectory, forbiddenPathProblem } from './path-safety.js';
import { closeStateFile, createStateFile, openStateFile } from './state-file.js';

export interface BindingOptions {
  /** Absolute. */
  readonly path: string;
  /** Memo slots of a file this process creates. */
  readonly memoSlots: number;
  readonly lockLimits: { readonly timeoutMs: number; readonly staleMs: number };
  /** Commands: a missing directory is an error, not created. */
  readonly strict: boolean;
  readonly warn: (message: string) => void;
  readonly now: () => number;
  /**
   * What to do with the file found at the path, by its size and first word,
   * before a slot is claimed in it: use it (undefined), replace it with a
   * fresh file, or refuse it (StateError EUNSAFE). @default balancerFile
   */
  readonly vet?: (size: number, magic: number) => { readonly replace: string } | { readonly refuse: string } | undefined;
}

/**
 * The balancer's file: an empty, truncated or foreign file is replaced (nothing
 * of ours, not even a lock-table slot, is written into it first).
 */
export function balancerFile(size: number, magic: number): { replace: string } | undefined {
  if (size >= MEMO_OFFSET && (magic === 0 || magic === MAGIC)) return undefined;
  return { replace: size === 0 ? 'empty' : size < MEMO_OFFSET ? `truncated (${size} bytes)` : 'not a postbal state file (bad magic)' };
}

/** A transaction that found the file replaced, or its slot claimed, starts once more; never more. */
const ATTEMPTS = 2;

/** What a transaction answers when the file was replaced under it: start again on the new file. */
export const AGAIN: unique symbol = Symbol('again');

/** How often the path is checked for having been deleted or replaced. */
const RECHECK_MS = 1000;

/**
 * Which file is the state file, for one process: the descriptor it has open,
 * whether the path still names that file, and this process's lock-table slot
 * in it. Creating, replacing and claiming a slot happen under the sidecar
 * lock (state/lock.ts); everything else here is lock-free. What the file
 * holds is the store's business (state/file-store.ts).
 */
export class StateFileBinding {
  readonly #opts: BindingOptions;
  readonly #sidecar: FileLock;
  readonly #euid: number;
  readonly #forbidden: StateError | undefined;
  #file: OpenFile | undefined;
  #ino = 0;
  #dev = 0;
  #lastCheckMs = 0;
  #lock: BakeryLock | undefined;
  #opened = 0;
  #slotsBySize = 0;

  constructor(opts: BindingOptions) {
    this.#opts = opts;
    this.#euid = process.geteuid?.() ?? -1;
    this.#forbidden = forbiddenPathProblem(opts.path);
    this.#sidecar = new FileLock(`${opts.path}.lock`, opts.lockLimits);
  }

  /** The open file, if any. */
  get file(): OpenFile | undefined {
    return this.#file;
  }

  /** This process's lock-table slot in the open file, if claimed. */
  get lock(): BakeryLock | undefined {
    return this.#lock;
  }

  /** Counts the files opened, so a check made once per file can tell a new one. */
  get opened(): number {
    return this.#opened;
  }

  /**
   * Memo slots by the open file's size: for a lock-free reader before any
   * transaction has read the header's count. 0 when unknown.
   */
  get slotsBySize(): number {
    return this.#slotsBySize;
  }

  /**
   * Opens the file if it is not open, and at most every RECHECK_MS checks
   * that the path still names the open file. Never creates it.
   * Lock needs: none.
   * @throws StateError (or an I/O error) when the path must not or cannot be used
   */
  ensureOpen(): void {
    const now = this.#opts.now();
    if (this.#file !== undefined) {
      if (now - this.#lastCheckMs < RECHECK_MS) return;
      this.#lastCheckMs = now;
      let same = false;
      try {
        const st = lstatSync(this.#opts.path);
        same = st.ino === this.#ino && st.dev === this.#dev && st.isFile();
      } catch {
        same = false;
      }
      if (same) return;
      this.#opts.warn(`state file ${this.#opts.path} was deleted or replaced while serving; reopening`);
      this.close();
    }
    this.#lastCheckMs = now;
    if (this.#forbidden) throw this.#forbidden;
    // The lock lives in the directory, so the directory is checked (and made) first.
    checkStateDirectory(this.#opts.path, { euid: this.#euid, strict: this.#opts.strict });
    this.#open(false);
  }

  /**
   * The open file's lock, after opening (and, if missing, creating) the file
   * and claiming a lock-table slot in it under the sidecar lock when either is
   * needed. Lock needs: none held on entry; returns with none held.
   * @throws StateError (or an I/O error) when the file cannot be used
   */
  ready(): BakeryLock {
    this.ensureOpen();
    if (this.#file !== undefined && this.#lock) return this.#lock;
    this.#withSidecar(() => {
      if (this.#file === undefined) this.#open(true);
      const fd = this.#file!.fd;
      const size = fstatSync(fd).size;
      const magic = Buffer.alloc(4);
      readSync(fd, magic, 0, 4, 0);
      const verdict = (this.#opts.vet ?? balancerFile)(size, magic.readUInt32LE(0));
      if (verdict && 'refuse' in verdict) {
        this.close();
        throw new StateError('EUNSAFE', this.#opts.path, verdict.refuse);
      }
      if (verdict) {
        this.#opts.warn(`${this.#opts.path}: state file is ${verdict.replace}; replacing it with a fresh state`);
        this.close();
        createStateFile(this.#opts.path, this.#opts.memoSlots, 'replace');
        this.#open(true);
      }
      this.#lock = BakeryLock.claim(this.#file!.fd, this.#opts.lockLimits);
      if (!this.#lock) throw new StateError('EUNAVAILABLE', this.#opts.path, `all ${LOCK_SLOTS} lock table slots are held by live instances`);
    });
    return this.#lock!;
  }

  /**
   * The one lock transaction of every state file (the balancer's and the
   * policy board's): runs `fn` holding this process's lock-table slot, after
   * opening or creating the file and claiming a slot when needed. A slot
   * another process claimed meanwhile is claimed anew, and `fn` may answer
   * AGAIN (the file was replaced under it) to start once more on the new
   * file; both at most ATTEMPTS times in all.
   * Lock needs: none held on entry; returns with none held.
   * @returns fn's result, or why the lock could not be had in time
   * @throws StateError (or an I/O error) when the file cannot be used
   */
  locked<T>(fn: (file: OpenFile) => T | typeof AGAIN): { readonly ok: true; readonly value: T } | { readonly ok: false; readonly detail: string } {
    for (let attempt = 1; ; attempt++) {
      const lock = this.ready();
      const got = lock.acquire();
      if (!got.ok && got.lost === true && attempt < ATTEMPTS) {
        this.#lock = undefined;
        continue;
      }
      if (!got.ok) {
        if (got.lost === true) this.#lock = undefined;
        return { ok: false, detail: got.detail };
      }
      try {
        const value = fn(this.#file!);
        if (value !== AGAIN) return { ok: true, value };
        if (attempt >= ATTEMPTS) throw new StateError('EUNAVAILABLE', this.#opts.path, 'state file replaced twice in one transaction');
      } finally {
        // A file replaced inside the transaction gave its slot back already.
        if (this.#lock === lock) lock.release();
      }
    }
  }

  /**
   * Replaces the unusable file this process has open, unless another process
   * replaced it first (then that file is used as it is).
   * Lock needs: a lock-table slot of the old file, given back here; takes the sidecar.
   */
  replace(): void {
    const bad = { ino: this.#ino, dev: this.#dev };
    this.close();
    this.#withSidecar(() => {
      let st;
      try {
        st = lstatSync(this.#opts.path);
      } catch {
        st = undefined;
      }
      if (!st || (st.ino === bad.ino && st.dev === bad.dev)) createStateFile(this.#opts.path, this.#opts.memoSlots, 'replace');
    });
  }

  close(): void {
    // Give the lock table slot back while the descriptor still names its file.
    this.#lock?.free();
    this.#lock = undefined;
    if (this.#file) closeStateFile(this.#file);
    this.#file = undefined;
  }

  /** Runs `fn` holding the sidecar lock. @throws StateError when the lock cannot be had */
  #withSidecar(fn: () => void): void {
    const got = this.#sidecar.acquire();
    if (!got.ok) throw new StateError(got.reason === 'unsafe' ? 'EUNSAFE' : 'EUNAVAILABLE', this.#sidecar.path, got.detail);
    try {
      if (got.brokeStale) this.#opts.warn(`removed a stale lock ${this.#sidecar.path} left by a process that died or hung`);
      fn();
    } finally {
      this.#sidecar.release();
    }
  }

  /** Lock needs: the sidecar, when `mayCreate` (creating a missing file). */
  #open(mayCreate: boolean): void {
    let opened = openStateFile(this.#opts.path, this.#euid);
    if (!opened) {
      if (!mayCreate) return;
      createStateFile(this.#opts.path, this.#opts.memoSlots, 'create');
      opened = openStateFile(this.#opts.path, this.#euid);
      if (!opened) throw new StateError('EUNAVAILABLE', this.#opts.path, 'state file vanished right after it was created');
    }
    this.#file = opened.file;
    this.#opened++;
    this.#ino = opened.stat.ino;
    this.#dev = opened.stat.dev;
    this.#slotsBySize = memoSlotsOf(opened.file.fd, opened.stat.size);
  }
}

/**
 * The memo's slot count in an open file, before any transaction read its
 * header: the header's count when it has been written, else what a fresh
 * file's size says. Never the size alone once a header exists: the trouble
 * region follows the memo, and slots counted into it would have memo writes
 * land on feedback's decisions (a busy new instance wiped them: the
 * suspensions and downs it overwrote failed their CRC and read as none).
 * Lock needs: none (one 24-byte pread).
 */
function memoSlotsOf(fd: number, size: number): number {
  const head = Buffer.alloc(24);
  let n = 0;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } catch {
    return 0;
  }
  if (n === head.length && head.readUInt32LE(0) === MAGIC) {
    const slots = head.readUInt32LE(20);
    return slots > 0 && MEMO_OFFSET + slots * MEMO_SLOT_BYTES <= size ? slots : 0;
  }
  // A fresh file (no header yet) is exactly header, lock table and memo: nothing follows the memo.
  return size > MEMO_OFFSET ? Math.floor((size - MEMO_OFFSET) / MEMO_SLOT_BYTES) : 0;
}
