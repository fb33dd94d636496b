import { fstatSync, readSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PoolConfig } from '../config/types.js';
import { StateError } from '../errors.js';
import { MemoTable, type SlotIO } from './memo.js';
import { DEFAULTS } from '../defaults.js';
import { monotonicMs } from '../clock.js';
import { carryOver, decodeHeader, describeHeaderProblem, encodeHeader, freshState } from './codec.js';
import { MemoryFallback, type LastGood } from './fallback.js';
import { AGAIN, StateFileBinding } from './file-binding.js';
import { HEADER_BLOCK_BYTES, MEMO_OFFSET, MEMO_SLOT_BYTES, TROUBLE_BYTES, fileBytes, headerBytes, troubleOffset } from './layout.js';
import { TallyRegion } from './tally-io.js';
import type { PendingTally } from './tally.js';
import { MemoRegion } from './memo-io.js';
import type { MemoryStateStore } from './memory-store.js';
import { peekHeaderState } from './header-peek.js';
import { stateErrorOf } from './path-safety.js';
import type { BalanceState, FileStoreOptions, MemoAccess, StateStore, StoreInfo, TroubleAccess, TroubleState } from './types.js';
import { decodeTrouble, emptyTrouble, encodeTrouble, nextTroubleGen } from './trouble-codec.js';

/** After a failure, how long to serve from memory before trying the file again. */
const RETRY_FILE_MS = 10_000;
const EMPTY_IO: SlotIO = { slots: 0, words: new Uint32Array(0), load() {}, store() {} };
const EMPTY_TROUBLE: TroubleState = Object.freeze(emptyTrouble());

/** A header read under the lock, or word that the file was replaced (the transaction starts again). */
type ReadResult = { readonly state: BalanceState; readonly memoSlots: number } | 'replaced';

/**
 * The shared state in one file, changed in place.
 *
 * Locks, in the order they are taken (never the other way round):
 *  1. the sidecar `<file>.lock` (state/lock.ts, an O_EXCL file): guards which
 *     file is the state file, i.e. creating and replacing it, and claiming a
 *     slot in its lock table. Taken rarely: at an instance's first lookup and
 *     when a file has to be replaced.
 *  2. the lock-table lock (state/bakery-lock.ts, Lamport's bakery over slots
 *     in the open file): guards the header (positions, counters, drain marks)
 *     and resetting the memo region for a changed pool. Taken once per
 *     transaction, with reads and writes in the open file only.
 * A replacement needs the sidecar; a process holding a lock-table lock gives its
 * slot back before it takes the sidecar (the old file is closed), then starts
 * the transaction again on the new file with a new slot.
 * Memo slots take no lock (see StateStore).
 *
 * Each transaction reads the 4 KiB header, lets the caller change it, and
 * writes it back with one pwrite; a header write fits one page, so SIGKILL
 * cannot tear it, and a CRC catches what a power loss might. The file must
 * live on a local filesystem: the locks rely on reads seeing every write of
 * other processes at once, which NFS does not promise.
 * Which file that is, and this process's slot in its lock table, is
 * state/file-binding.ts's business. When the file cannot or must not be
 * used, the store serves from memory (state/fallback.ts) and tries the file
 * again later. The daemon holds positions in memory (state/write-behind.ts). */
export class FileStateStore implements StateStore {
  readonly path: string;
  readonly #opts: FileStoreOptions;
  readonly #binding: StateFileBinding;
  readonly #fallback: MemoryFallback;
  readonly #region = new MemoRegion();
  readonly #headerBuf = Buffer.alloc(HEADER_BLOCK_BYTES);
  #lastGood: LastGood | undefined;
  /** The file's size was found to hold this many memo slots (checked once per file opened and count). */
  #sizeChecked = { opened: -1, slots: -1 };
  #memoSlots = 0;
  #warnedWarmup = false;
  /** Memory serves because the lock was busy, not because the file is unusable (see #withFileMarks). */
  #busy = false;
  readonly #tally: TallyRegion;
  /** The trouble region last read, by generation. */
  #trouble: { gen: number; trouble: TroubleState } | undefined;
  readonly #now: () => number;

  constructor(opts: FileStoreOptions) {
    this.#now = opts.monotonicMs ?? monotonicMs;
    this.#tally = new TallyRegion(this.#now);
    this.path = resolve(opts.path);
    this.#opts = opts;
    this.#binding = new StateFileBinding({
      path: this.path,
      memoSlots: opts.memoSlots,
      lockLimits: { timeoutMs: opts.lockTimeoutMs ?? DEFAULTS.lockTimeoutMs, staleMs: opts.lockStaleMs ?? DEFAULTS.lockStaleMs },
      strict: opts.strict === true,
      warn: opts.warn,
      now: this.#now,
    });
    this.#fallback = new MemoryFallback({
      path: this.path,
      memoTtlSec: opts.memoTtlSec,
      memoSlots: opts.memoSlots,
      retryMs: RETRY_FILE_MS,
      warn: opts.warn,
      info: opts.info ?? opts.warn,
    });
  }

  get tally(): PendingTally {
    return this.#tally.pending;
  }

  info(): StoreInfo {
    const reason = this.#fallback.reason;
    return reason === undefined ? { kind: 'file', path: this.path } : { kind: 'memory', path: this.path, reason, busy: this.#busy };
  }

  transact<T>(pool: PoolConfig, fn: (state: BalanceState, trouble: TroubleAccess) => T): T {
    const memory = this.#fallback.serving(this.#now());
    if (memory) return this.#busy ? this.#withFileMarks(memory, pool, fn) : memory.transact(pool, fn);
    let applied = false;
    let result: T | undefined;
    const asked = this.#now();
    try {
      const done = this.#binding.locked((): T | typeof AGAIN => {
        const read = this.#readState(pool);
        if (read === 'replaced') return AGAIN;
        const trouble = this.#troubleFor(read.state.troubleGen, read.memoSlots);
        let replaced: TroubleState | undefined;
        result = fn(read.state, { current: trouble, replace: (next) => { replaced = next; } });
        applied = true;
        if (replaced) {
          // The region first: whoever sees the new generation in the header finds it written.
          read.state.troubleGen = nextTroubleGen(read.state.troubleGen);
          this.#pwrite(encodeTrouble(replaced), troubleOffset(read.memoSlots));
          this.#trouble = { gen: read.state.troubleGen, trouble: replaced };
        }
        this.#pwrite(encodeHeader(read.state, pool, read.memoSlots), 0);
        this.tally.lockWait((this.#now() - asked) / 1000);
        this.#tally.flush(this.#binding.file!.fd, read.memoSlots);
        this.#memoSlots = read.memoSlots;
        this.#lastGood = { fingerprint: pool.fingerprint, state: read.state, pool };
        this.#busy = false;
        this.#fallback.leave();
        return result;
      });
      if (done.ok) return done.value;
      const busy = new StateError('EUNAVAILABLE', this.path, `state lock: ${done.detail}`);
      if (this.#opts.strict) throw busy;
      // The file is sound, only busy: it stays open, and its drain marks are still obeyed.
      this.#busy = true;
      return this.#withFileMarks(this.#fallback.enter(busy.message, this.#now(), this.#lastGood, pool), pool, fn);
    } catch (err) {
      const memory = this.#degrade(err, pool);
      // An answer already decided stands; later ones come from memory.
      return applied ? (result as T) : memory.transact(pool, fn);
    }
  }

  memo(pool: PoolConfig, expectedOps: number): MemoAccess {
    const ttl = this.#opts.memoTtlSec;
    const n = pool.transports.length;
    const memory = this.#fallback.serving(this.#now());
    if (memory) return memory.memo(pool);
    if (ttl <= 0) return new MemoTable(EMPTY_IO, 0, n);
    try {
      this.#binding.ensureOpen();
    } catch (err) {
      return this.#degrade(err, pool).memo(pool);
    }
    const file = this.#binding.file;
    // Until a transaction has read the header's count, a complete file's size tells it.
    const slots = this.#memoSlots || this.#binding.slotsBySize;
    // Not created yet (or not yet read): nothing can be remembered in it.
    if (file === undefined || slots === 0) return new MemoTable(EMPTY_IO, ttl, n);
    return new MemoTable(this.#region.io(file, slots, expectedOps), ttl, n);
  }

  peekFlags(pool: PoolConfig): { flags: readonly number[]; troubleGen: number } | undefined {
    const memory = this.#fallback.serving(this.#now());
    if (memory) {
      const own = memory.peekFlags(pool);
      const marks = this.#busy ? this.#peekFile(pool)?.flags : undefined;
      return marks ? { flags: marks, troubleGen: own.troubleGen } : own;
    }
    return this.#peekFile(pool);
  }

  /**
   * Serving from memory while the lock is busy: the memory's sequence, with
   * the drain marks the file has now (read lock-free), so a drain made
   * meanwhile still applies from the next lookup.
   */
  #withFileMarks<T>(memory: MemoryStateStore, pool: PoolConfig, fn: (state: BalanceState, trouble: TroubleAccess) => T): T {
    const marks = this.#peekFile(pool)?.flags;
    return memory.transact(pool, (state, trouble) => {
      if (marks) state.transports.forEach((t, i) => { t.flags = marks[i]!; });
      return fn(state, trouble);
    });
  }

  /** The flags (drain marks) and trouble generation in the file's header, lock-free; undefined when it cannot be read whole for this pool. */
  #peekFile(pool: PoolConfig): { flags: readonly number[]; troubleGen: number } | undefined {
    const state = this.#peekHeader(pool);
    return state && { flags: state.transports.map((t) => t.flags), troubleGen: state.troubleGen };
  }

  /** The file's header as it is now (warm-up records aside), lock-free; undefined when memory serves or it cannot be read whole. */
  peekState(pool: PoolConfig): BalanceState | undefined {
    return this.#fallback.serving(this.#now()) ? undefined : this.#peekHeader(pool);
  }
  #peekHeader(pool: PoolConfig): BalanceState | undefined {
    if (this.#binding.file === undefined) return undefined;
    try {
      this.#binding.ensureOpen();
      const file = this.#binding.file;
      return file && peekHeaderState(file.fd, this.#headerBuf, pool, headerBytes(pool.transports.length));
    } catch {
      return undefined;
    }
  }

  close(): void {
    this.#binding.close();
  }

  /** Why the file cannot be used -> memory, or in strict mode the error (thrown). */
  #degrade(problem: unknown, pool: PoolConfig): MemoryStateStore {
    const error = stateErrorOf(this.path, 'state file', problem);
    this.#busy = false;
    this.close();
    if (this.#opts.strict) throw error;
    return this.#fallback.enter(error.message, this.#now(), this.#lastGood, pool);
  }

  /**
   * Reads the header for `pool`. A changed pool is reset in place; an
   * unusable file is replaced, and the transaction must start again.
   * Lock needs: the lock-table lock.
   */
  #readState(pool: PoolConfig): ReadResult {
    const fd = this.#binding.file!.fd;
    const buf = this.#headerBuf;
    const n = readSync(fd, buf, 0, HEADER_BLOCK_BYTES, 0);
    const decoded = decodeHeader(buf.subarray(0, n), pool.fingerprint);
    if (typeof decoded !== 'string' && decoded.warmupCorrupt) this.#warmupLost();
    if (typeof decoded !== 'string' && decoded.state.transports.length === pool.transports.length) {
      // The size is checked once per open file and memo size, not per lookup.
      const checked = this.#sizeChecked;
      if (checked.opened === this.#binding.opened && checked.slots === decoded.memoSlots) return { state: decoded.state, memoSlots: decoded.memoSlots };
      if (fstatSync(fd).size >= fileBytes(decoded.memoSlots)) {
        this.#sizeChecked = { opened: this.#binding.opened, slots: decoded.memoSlots };
        return { state: decoded.state, memoSlots: decoded.memoSlots };
      }
    }
    const size = fstatSync(fd).size;
    if (decoded === 'pool') {
      const old = decodeHeader(buf.subarray(0, n));
      if (typeof old !== 'string' && size >= fileBytes(old.memoSlots)) {
        // The config changed: a fresh sequence and an empty memo (its answers
        // name old indexes), keeping the drain marks of members still present;
        // all in this file, under the lock every instance takes.
        this.#opts.warn(`${this.path}: state was written for a different pool; starting a fresh sequence (drain marks kept)`);
        this.#pwrite(Buffer.alloc(old.memoSlots * MEMO_SLOT_BYTES), MEMO_OFFSET);
        return { state: carryOver(old, pool, Date.now()), memoSlots: old.memoSlots };
      }
    }
    const fresh = n === HEADER_BLOCK_BYTES && buf.readUInt32LE(0) === 0 && buf.readUInt32LE(4) === 0 && size >= fileBytes(this.#opts.memoSlots);
    if (fresh) return { state: freshState(pool.transports.length, Date.now()), memoSlots: this.#opts.memoSlots };
    const problem = typeof decoded === 'string' ? describeHeaderProblem(decoded) : 'state file is truncated';
    this.#opts.warn(`${this.path}: ${problem}; replacing it with a fresh state`);
    this.#binding.replace();
    return 'replaced';
  }

  /** Said once per process: this transaction writes an empty table, so the next reader finds none. */
  #warmupLost(): void {
    if (this.#warnedWarmup) return;
    this.#warnedWarmup = true;
    this.#opts.warn(`${this.path}: the warm-up table is corrupt; every warming transport starts again at stage 1 (set a stage back with postbal warmup-stage TRANSPORT STAGE)`);
  }

  /**
   * The trouble region for this generation: read again only when the
   * generation changed, so a transaction costs no extra read otherwise.
   * Lock needs: the lock-table lock.
   */
  #troubleFor(gen: number, memoSlots: number): TroubleState {
    if (gen === 0) return EMPTY_TROUBLE;
    if (this.#trouble?.gen === gen) return this.#trouble.trouble;
    const buf = Buffer.alloc(TROUBLE_BYTES);
    const n = readSync(this.#binding.file!.fd, buf, 0, TROUBLE_BYTES, troubleOffset(memoSlots));
    const trouble = decodeTrouble(buf.subarray(0, n));
    this.#trouble = { gen, trouble };
    return trouble;
  }

  /** Adds what this process counted to the file now (at exit); false when the file could not take it. */
  flushTally(pool: PoolConfig): boolean {
    if (this.tally.empty || this.#fallback.serving(this.#now())) return this.tally.empty;
    this.#tally.due();
    this.transact(pool, () => undefined);
    return this.tally.empty;
  }

  #pwrite(buf: Buffer, pos: number): void {
    const fd = this.#binding.file!.fd;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, pos + off);
  }
}
