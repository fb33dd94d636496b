import {
  closeSync, constants, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, writeSync,
  type Stats,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { PoolConfig } from '../config/types.js';
import { StateError } from '../errors.js';
import { MemoTable, type SlotIO } from '../balance/memo.js';
import { carryOver, decodeHeader, describeHeaderProblem, encodeHeader, freshState } from './codec.js';
import { writeFileAtomicSync } from './atomic-write.js';
import { BakeryLock } from './bakery-lock.js';
import { FileLock } from './lock.js';
import {
  HEADER_BLOCK_BYTES, LOCK_SLOTS, MAGIC, MEMO_OFFSET, MEMO_SLOT_BYTES, fileBytes, headerBytes,
} from './layout.js';
import { MemoryStateStore } from './memory-store.js';
import type { BalanceState, MemoAccess, StateStore, StoreInfo } from './types.js';
import { monotonicMs } from '../clock.js';

export interface FileStoreOptions {
  readonly path: string;
  readonly memoSlots: number;
  readonly memoTtlSec: number;
  /** Called for every warning worth a log line (never per lookup). */
  readonly warn: (message: string) => void;
  readonly lockTimeoutMs?: number;
  readonly lockStaleMs?: number;
  /**
   * For commands that change the state (drain, reset-stats): a file that
   * cannot be used is an error (StateError) instead of a fallback to memory,
   * and a missing directory is not created.
   */
  readonly strict?: boolean;
}

/**
 * An I/O failure as a StateError: permission errors say the file is not
 * ours to change (ENOPERM), anything else that it cannot be used now.
 */
function stateErrorOf(path: string, what: string, err: unknown): StateError {
  const code = (err as NodeJS.ErrnoException).code;
  const kind = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'ENOPERM' : 'EUNAVAILABLE';
  return new StateError(kind, path, `${what} (${code ?? (err as Error).message ?? String(err)})`);
}

/** Paths where a state file makes no sense and where mkdir can hang (/proc). */
const FORBIDDEN_PREFIXES = ['/proc/', '/sys/', '/dev/'];
/** How often the path is checked for having been deleted or replaced. */
const RECHECK_MS = 1000;
/** After a failure, how long to serve from memory before trying the file again. */
const RETRY_FILE_MS = 10_000;
/** A memo batch this large reads the whole memo region at once. */
const BULK_MEMO_OPS = 32;
const EMPTY_IO: SlotIO = { slots: 0, words: new Uint32Array(0), load() {}, store() {} };

/**
 * The shared state in one file, changed in place.
 *
 * The file is created (and replaced when unusable) with write-file-atomic, so
 * no process ever sees a half-written new file (creating and replacing take
 * the sidecar `<file>.lock`). Each transaction then takes the lock-table lock
 * (state/bakery-lock.ts: reads and writes in the open file, no directory
 * operation), reads the 4 KiB header, lets the caller change it, and writes
 * it back with one pwrite; a header write fits one page, so SIGKILL cannot
 * tear it, and a CRC catches what a power loss might. Memo slots are read and
 * written without the lock (see StateStore). When the file cannot or must not
 * be used, the store serves from memory (one warning) and tries the file
 * again later.
 */
export class FileStateStore implements StateStore {
  readonly path: string;
  readonly #opts: FileStoreOptions;
  readonly #lock: FileLock;
  readonly #euid: number;
  readonly #forbidden: boolean;
  #fd: number | undefined;
  #ino = 0;
  #dev = 0;
  #lastCheckMs = 0;
  #fallback: MemoryStateStore | undefined;
  #fallbackSinceMs = 0;
  #fallbackReason = '';
  #lastGood: { fingerprint: number; state: BalanceState; pool: PoolConfig } | undefined;
  /** Reused between batches: a fresh 256 KiB buffer per batch only feeds the GC. */
  #region: Buffer | undefined;
  #regionWords: Uint32Array | undefined;
  #bakery: BakeryLock | undefined;
  readonly #headerBuf = Buffer.alloc(HEADER_BLOCK_BYTES);
  #sizeCheckedFor = -1;
  #memoSlots = 0;

  constructor(opts: FileStoreOptions) {
    this.path = resolve(opts.path);
    this.#forbidden = FORBIDDEN_PREFIXES.some((p) => this.path.startsWith(p));
    this.#opts = opts;
    this.#euid = process.geteuid?.() ?? -1;
    this.#lock = new FileLock(`${this.path}.lock`, {
      timeoutMs: opts.lockTimeoutMs ?? 1000,
      staleMs: opts.lockStaleMs ?? 500,
    });
  }

  info(): StoreInfo {
    if (this.#fallback) return { kind: 'memory', path: this.path, reason: this.#fallbackReason };
    return { kind: 'file', path: this.path };
  }

  transact<T>(pool: PoolConfig, fn: (state: BalanceState) => T): T {
    if (this.#usingFallback()) return this.#fallback!.transact(pool, fn);
    const ready = this.#prepare();
    if (ready !== undefined) return this.#degrade(ready, pool).transact(pool, fn);
    let lock: BakeryLock;
    try {
      lock = this.#ready();
    } catch (err) {
      return this.#degrade(err, pool).transact(pool, fn);
    }
    const got = lock.acquire();
    if (!got.ok) return this.#degrade(new StateError('EUNAVAILABLE', this.path, `state lock: ${got.detail}`), pool).transact(pool, fn);
    let applied = false;
    let result: T | undefined;
    try {
      const { state, memoSlots } = this.#readState(pool);
      result = fn(state);
      applied = true;
      this.#pwrite(encodeHeader(state, pool, memoSlots), 0);
      this.#memoSlots = memoSlots;
      this.#lastGood = { fingerprint: pool.fingerprint, state, pool };
      return result;
    } catch (err) {
      const fallback = this.#degrade(err, pool);
      // An answer already decided stands; later ones come from memory.
      return applied ? (result as T) : fallback.transact(pool, fn);
    } finally {
      // A file replaced inside the transaction gave its slot back already.
      if (this.#bakery === lock) lock.release();
    }
  }

  /**
   * Opens the file (creating it if missing) and claims a lock table slot,
   * under the sidecar lock when either is needed; re-validates the file at
   * most every RECHECK_MS.
   * @throws StateError (or an I/O error) when the file cannot be used
   */
  #ready(): BakeryLock {
    this.#ensureOpen(false);
    if (this.#fd !== undefined && this.#bakery) return this.#bakery;
    const got = this.#lock.acquire();
    if (!got.ok) throw new StateError(got.reason === 'unsafe' ? 'EUNSAFE' : 'EUNAVAILABLE', this.#lock.path, got.detail);
    try {
      if (got.brokeStale) this.#opts.warn(`removed a stale lock ${this.#lock.path} left by a process that died or hung`);
      if (this.#fd === undefined) this.#open(true);
      const size = fstatSync(this.#fd!).size;
      const magic = Buffer.alloc(4);
      readSync(this.#fd!, magic, 0, 4, 0);
      const word = magic.readUInt32LE(0);
      if (size < MEMO_OFFSET || (word !== 0 && word !== MAGIC)) {
        // Not a state file (empty, truncated, or another program's): nothing
        // of ours, not even a lock-table slot, is written into it.
        const what = size === 0 ? 'empty' : size < MEMO_OFFSET ? `truncated (${size} bytes)` : 'not a postbal state file (bad magic)';
        this.#opts.warn(`${this.path}: state file is ${what}; replacing it with a fresh state`);
        this.close();
        this.#create('replaced');
        this.#open(true);
      }
      this.#bakery = BakeryLock.claim(this.#fd!, { timeoutMs: this.#opts.lockTimeoutMs ?? 1000, staleMs: this.#opts.lockStaleMs ?? 500 });
      if (!this.#bakery) throw new StateError('EUNAVAILABLE', this.path, `all ${LOCK_SLOTS} lock table slots are held by live instances`);
      return this.#bakery;
    } finally {
      this.#lock.release();
    }
  }

  memo(pool: PoolConfig, expectedOps: number): MemoAccess {
    const ttl = this.#opts.memoTtlSec;
    if (this.#usingFallback()) return this.#fallback!.memo(pool);
    if (ttl <= 0) return new MemoTable(EMPTY_IO, 0, pool.transports.length);
    const ready = this.#prepare();
    if (ready !== undefined) return this.#degrade(ready, pool).memo(pool);
    try {
      this.#ensureOpen(false);
    } catch (err) {
      return this.#degrade(err, pool).memo(pool);
    }
    if (this.#fd === undefined || this.#memoSlots === 0) {
      // Not created yet (or not yet read): nothing can be remembered in it.
      return new MemoTable(EMPTY_IO, ttl, pool.transports.length);
    }
    return new MemoTable(this.#memoIO(this.#memoSlots, expectedOps), ttl, pool.transports.length);
  }

  peekFlags(pool: PoolConfig): readonly number[] | undefined {
    if (this.#usingFallback()) return this.#fallback!.peekFlags(pool);
    if (this.#fd === undefined) return undefined;
    try {
      this.#ensureOpen(false);
      if (this.#fd === undefined) return undefined;
      const buf = this.#headerBuf;
      // Just this pool's header, not the whole page: this runs for every repeat lookup.
      const n = readSync(this.#fd, buf, 0, headerBytes(pool.transports.length), 0);
      const decoded = decodeHeader(buf.subarray(0, n), pool.fingerprint);
      if (typeof decoded === 'string' || decoded.state.transports.length !== pool.transports.length) return undefined;
      return decoded.state.transports.map((t) => t.flags);
    } catch {
      return undefined;
    }
  }

  #usingFallback(): boolean {
    return this.#fallback !== undefined && monotonicMs() - this.#fallbackSinceMs < RETRY_FILE_MS;
  }

  /** Checks the path and directory; returns why the file cannot be used, if so. */
  #prepare(): unknown {
    if (this.#forbidden) return new StateError('EUNSAFE', this.path, `state path is under /${this.path.split('/')[1]}: not a place for a state file`);
    if (this.#fd !== undefined) return undefined;
    // The lock lives in the directory, so the directory is checked (and made) first.
    try {
      this.#checkDirectory();
      return undefined;
    } catch (err) {
      return err;
    }
  }

  close(): void {
    // Give the lock table slot back while the descriptor still names its file.
    this.#bakery?.free();
    this.#bakery = undefined;
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // Closing cannot fail in a way that matters here.
      }
      this.#fd = undefined;
    }
  }

  /** Why the file cannot be used (a StateError, or an I/O error) -> memory, or in strict mode the error. */
  #degrade(problem: unknown, pool: PoolConfig): MemoryStateStore {
    const error = problem instanceof StateError ? problem : stateErrorOf(this.path, 'state file', problem);
    if (this.#opts.strict) {
      this.close();
      throw error;
    }
    const reason = error.message;
    if (!this.#fallback) {
      this.#opts.warn(`${reason}; serving from memory (not shared with other instances) until it is fixed`);
      this.#fallback = new MemoryStateStore({
        memoTtlSec: this.#opts.memoTtlSec,
        memoSlots: this.#opts.memoSlots,
        reason,
        ...(this.#lastGood?.fingerprint === pool.fingerprint ? { seed: this.#lastGood } : {}),
      });
      this.#fallbackReason = reason;
    }
    this.#fallbackSinceMs = monotonicMs();
    this.close();
    return this.#fallback;
  }

  /**
   * Opens and re-validates the file, at most every RECHECK_MS once open.
   * Lock needs: held when `mayCreate` (creating a missing file); none otherwise.
   */
  #ensureOpen(mayCreate: boolean): void {
    const now = monotonicMs();
    if (this.#fd !== undefined && now - this.#lastCheckMs < RECHECK_MS) return;
    this.#lastCheckMs = now;
    if (this.#fd !== undefined) {
      let st: Stats | undefined;
      try {
        st = lstatSync(this.path);
      } catch {
        st = undefined;
      }
      if (st && st.ino === this.#ino && st.dev === this.#dev && st.isFile()) return;
      this.#opts.warn(`state file ${this.path} was deleted or replaced while serving; reopening`);
      this.close();
      this.#checkDirectory();
    }
    this.#open(mayCreate);
  }

  #checkDirectory(): void {
    const dir = dirname(this.path);
    let st: Stats;
    try {
      st = lstatSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (this.#opts.strict) throw new StateError('EUNAVAILABLE', dir, 'state directory does not exist (it is created by the first lookup of a serving postbal, with the owner Postfix runs postbal as)');
      // Never recursive: mkdir -p of a path under /proc never returns.
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch (mkErr) {
        if ((mkErr as NodeJS.ErrnoException).code !== 'EEXIST') throw stateErrorOf(dir, 'state directory missing and cannot be created', mkErr);
      }
      st = lstatSync(dir);
    }
    if (st.isSymbolicLink()) throw new StateError('EUNSAFE', dir, 'state directory is a symlink: refusing it');
    if (!st.isDirectory()) throw new StateError('EUNAVAILABLE', dir, 'state directory is not a directory');
    if ((st.mode & 0o022) !== 0) {
      throw new StateError('EUNSAFE', dir, `state directory is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}): anyone who can write it can stall or steer mail`);
    }
    // An administrator's command (root, strict) may change the state of the
    // user the instances run as, in that user's directory.
    if (st.uid !== this.#euid && st.uid !== 0 && !(this.#opts.strict && this.#euid === 0)) {
      throw new StateError('EUNSAFE', dir, `state directory is owned by uid ${st.uid}, neither us (uid ${this.#euid}) nor root`);
    }
  }

  #open(mayCreate: boolean): void {
    let fd: number;
    try {
      fd = openSync(this.path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new StateError('EUNSAFE', this.path, 'state file is a symlink: refusing to follow it');
      if (code !== 'ENOENT') throw stateErrorOf(this.path, 'cannot open state file', err);
      if (!mayCreate) return;
      this.#create('created');
      fd = openSync(this.path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new StateError('EUNSAFE', this.path, 'state file is not a regular file (FIFO, directory or device)');
      if (this.#euid !== 0 && st.uid !== this.#euid) throw new StateError('EUNSAFE', this.path, `state file is owned by uid ${st.uid}, not by us (uid ${this.#euid})`);
      if ((st.mode & 0o022) !== 0) throw new StateError('EUNSAFE', this.path, `state file is writable by group or others (mode ${(st.mode & 0o7777).toString(8)})`);
      if (st.nlink !== 1) throw new StateError('EUNSAFE', this.path, `state file has ${st.nlink} hard links`);
      this.#fd = fd;
      this.#sizeCheckedFor = -1;
      this.#ino = st.ino;
      this.#dev = st.dev;
      // The memo region's size comes from the header; until a transaction has
      // read it, a lock-free reader takes it from a complete file's size.
      if (this.#memoSlots === 0 && st.size > MEMO_OFFSET) this.#memoSlots = Math.floor((st.size - MEMO_OFFSET) / MEMO_SLOT_BYTES);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * Replaces an unusable file. Lock needs: the lock table lock of the old
   * file (given back here); takes the sidecar lock so replacements do not race.
   * The new file's slot is claimed by the next transaction.
   */
  #replace(): void {
    this.close();
    const got = this.#lock.acquire();
    try {
      this.#create('replaced');
      this.#open(true);
    } finally {
      if (got.ok) this.#lock.release();
    }
  }

  /** Lock needs: held. Writes a fresh, empty state file atomically (temp + rename). */
  #create(why: string): void {
    // All zeros, no magic: the first transaction writes a real header.
    const bytes = Buffer.alloc(fileBytes(this.#opts.memoSlots));
    try {
      writeFileAtomicSync(this.path, bytes, 0o600);
      if (this.#euid === 0) this.#giveToDirectoryOwner();
    } catch (err) {
      throw stateErrorOf(this.path, `cannot ${why === 'created' ? 'create' : 'replace'} state file`, err);
    }
  }

  /**
   * A file root creates (`postbal drain` by an administrator) belongs to the
   * directory's owner, the user the serving instances run as: a root-owned
   * file would lock them out.
   */
  #giveToDirectoryOwner(): void {
    const dir = lstatSync(dirname(this.path));
    if (dir.uid === 0) return;
    const fd = openSync(this.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      fchownSync(fd, dir.uid, dir.gid);
    } finally {
      closeSync(fd);
    }
  }

  /** Lock needs: held. Reads the header; replaces an unusable file with a fresh one. */
  #readState(pool: PoolConfig): { state: BalanceState; memoSlots: number } {
    const fd = this.#fd!;
    const buf = this.#headerBuf;
    const n = readSync(fd, buf, 0, HEADER_BLOCK_BYTES, 0);
    const decoded = decodeHeader(buf.subarray(0, n), pool.fingerprint);
    if (typeof decoded !== 'string' && decoded.state.transports.length === pool.transports.length) {
      // The size is checked once per open file and memo size, not per lookup.
      if (this.#sizeCheckedFor === decoded.memoSlots) return { state: decoded.state, memoSlots: decoded.memoSlots };
      if (fstatSync(fd).size >= fileBytes(decoded.memoSlots)) {
        this.#sizeCheckedFor = decoded.memoSlots;
        return { state: decoded.state, memoSlots: decoded.memoSlots };
      }
    }
    if (decoded === 'pool') {
      // The config changed: a fresh sequence (and memo, whose answers name
      // old indexes), keeping the drain marks of members still present.
      const old = decodeHeader(buf.subarray(0, n));
      if (typeof old !== 'string') {
        this.#opts.warn(`${this.path}: state was written for a different pool; starting a fresh sequence (drain marks kept)`);
        this.#replace();
        return { state: carryOver(old, pool, Date.now()), memoSlots: this.#opts.memoSlots };
      }
    }
    const fresh = n === HEADER_BLOCK_BYTES && buf.readUInt32LE(0) === 0 && buf.readUInt32LE(4) === 0
      && fstatSync(fd).size >= fileBytes(this.#opts.memoSlots);
    if (!fresh) {
      const problem = typeof decoded === 'string' ? describeHeaderProblem(decoded) : 'state file is truncated';
      this.#opts.warn(`${this.path}: ${problem}; replacing it with a fresh state`);
      this.#replace();
    }
    return { state: freshState(pool.transports.length, Date.now()), memoSlots: this.#opts.memoSlots };
  }

  /**
   * Lock needs: none. A large batch reads the whole memo region once; a small
   * one (a lookup from Postfix) reads just the probe windows it touches. Each
   * changed slot is written back alone, 16 bytes at a 16-byte offset, so
   * writers never overwrite each other's slots.
   */
  #memoIO(slots: number, expectedOps: number): SlotIO {
    const fd = this.#fd!;
    if (this.#region?.length !== slots * MEMO_SLOT_BYTES) {
      this.#region = Buffer.alloc(slots * MEMO_SLOT_BYTES);
      this.#regionWords = new Uint32Array(this.#region.buffer, this.#region.byteOffset, slots * 4);
    }
    const region = this.#region;
    const bulk = expectedOps >= BULK_MEMO_OPS;
    if (bulk) readSync(fd, region, 0, region.length, MEMO_OFFSET);
    return {
      slots,
      words: this.#regionWords!,
      load(first: number, count: number): void {
        if (bulk) return;
        const from = first * MEMO_SLOT_BYTES;
        readSync(fd, region, from, count * MEMO_SLOT_BYTES, MEMO_OFFSET + from);
      },
      store(index: number): void {
        // One 16-byte write at a 16-byte offset: atomic, and never touches another slot.
        const from = index * MEMO_SLOT_BYTES;
        writeSync(fd, region, from, MEMO_SLOT_BYTES, MEMO_OFFSET + from);
      },
    };
  }

  #pwrite(buf: Buffer, pos: number): void {
    let off = 0;
    while (off < buf.length) off += writeSync(this.#fd!, buf, off, buf.length - off, pos + off);
  }
}
