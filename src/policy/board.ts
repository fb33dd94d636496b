import { fstatSync, lstatSync, readSync, writeSync } from 'node:fs';
import { DEFAULTS } from '../defaults.js';
import { BakeryLock } from '../state/bakery-lock.js';
import { FileLock } from '../state/lock.js';
import { checkStateDirectory, forbiddenPathProblem, stateErrorOf } from '../state/path-safety.js';
import { closeStateFile, createStateFile, openStateFile } from '../state/state-file.js';
import type { OpenFile } from '../state/memo-io.js';
import type { BackendSpec } from './backend.js';
import { BOARD_MAGIC, BOARD_PAGE_BYTES, boardBytes, fingerprintServices, initBoard, readHeader } from './board-codec.js';

/**
 * The board every `postbal policy` instance shares: one page in a state file
 * (policy/board-codec.ts), read lock-free for each request (one pread) and
 * changed under the balancer's bakery lock, so a breaker tripped by one
 * instance is skipped by all and round-robin scores are common. With
 * `--state none`, or when the file must not or cannot be used, the page
 * lives in memory and the instance works alone (logged once).
 */

/** The state file is 8 KiB: the page and the lock table (state/layout.ts's first two blocks). */
const FILE_BYTES = 8192;
/** How often the path is checked for having been replaced or deleted. */
const RECHECK_MS = 1000;

interface Opened {
  readonly file: OpenFile;
  readonly lock: BakeryLock;
  readonly ino: number;
}

export class PolicyBoard {
  readonly path: string | undefined;
  readonly #services: readonly BackendSpec[];
  readonly #warn: (message: string) => void;
  readonly #now: () => number;
  readonly #page = Buffer.alloc(BOARD_PAGE_BYTES);
  /** What a page of exactly these services holds in its header (computed once, compared per request). */
  readonly #fingerprint: number;
  /** The bytes of the page that hold anything (the header and these services' records). */
  readonly #used: number;
  #opened: Opened | undefined;
  #checkedAt = 0;
  /** Why the file is not in use (logged once), or undefined. */
  #problem: string | undefined;

  constructor(path: string | undefined, services: readonly BackendSpec[], opts: { warn: (message: string) => void; nowMs?: () => number }) {
    this.path = path;
    this.#services = services;
    this.#warn = opts.warn;
    this.#now = opts.nowMs ?? Date.now;
    this.#fingerprint = fingerprintServices(services);
    this.#used = boardBytes(services.length);
    initBoard(this.#page, services, this.#now());
    if (path !== undefined) this.#open(path);
  }

  /** Where the board lives, for the start-up log line. */
  get where(): string {
    return this.#opened ? this.path! : `memory (${this.#problem ?? 'no state file'})`;
  }

  #giveUp(why: string): void {
    if (this.#problem === undefined) this.#warn(`policy: state ${this.path}: ${why}; this instance keeps its breakers and round robin to itself`);
    this.#problem = why;
    this.#close();
  }

  #open(path: string): void {
    const euid = process.geteuid?.() ?? -1;
    const forbidden = forbiddenPathProblem(path);
    if (forbidden) {
      this.#giveUp(forbidden.message);
      return;
    }
    let sidecar: FileLock | undefined;
    try {
      checkStateDirectory(path, { euid, strict: false });
      let opened = openStateFile(path, euid);
      sidecar = new FileLock(`${path}.lock`, { timeoutMs: DEFAULTS.lockTimeoutMs, staleMs: DEFAULTS.lockStaleMs });
      const got = sidecar.acquire();
      if (!got.ok) {
        this.#giveUp(got.detail);
        return;
      }
      if (!opened) {
        createStateFile(path, 0, euid, 'create');
        opened = openStateFile(path, euid);
        if (!opened) throw new Error('state file vanished after it was created');
      }
      if (opened.stat.size < FILE_BYTES) {
        closeStateFile(opened.file);
        this.#giveUp(`is ${opened.stat.size} bytes, expected ${FILE_BYTES}: not a postbal policy state file`);
        return;
      }
      const magic = Buffer.alloc(4);
      readSync(opened.file.fd, magic, 0, 4, 0);
      if (magic.readUInt32LE(0) !== 0 && magic.readUInt32LE(0) !== BOARD_MAGIC) {
        closeStateFile(opened.file);
        this.#giveUp(`is not a postbal policy state file (it starts with ${JSON.stringify(magic.toString('latin1'))}; the balancer's state file cannot be shared with policy)`);
        return;
      }
      const lock = BakeryLock.claim(opened.file.fd, { timeoutMs: DEFAULTS.lockTimeoutMs, staleMs: DEFAULTS.lockStaleMs });
      if (!lock) {
        closeStateFile(opened.file);
        this.#giveUp('every lock slot is taken by a live process');
        return;
      }
      this.#opened = { file: opened.file, lock, ino: opened.stat.ino };
      if (this.#problem !== undefined) this.#warn(`policy: state ${path} usable again; shared with the other instances`);
      this.#problem = undefined;
      this.#checkedAt = this.#now();
    } catch (err) {
      this.#giveUp(stateErrorOf(path, 'cannot use it', err).message);
    } finally {
      sidecar?.release();
    }
  }

  #matches(): boolean {
    const h = readHeader(this.#page);
    return h.magic === BOARD_MAGIC && h.count === this.#services.length && h.fingerprint === this.#fingerprint;
  }

  #close(): void {
    const o = this.#opened;
    this.#opened = undefined;
    if (!o) return;
    o.lock.free();
    closeStateFile(o.file);
  }

  /** Re-opens the path when it was replaced or deleted; tries again after a failure. */
  #recheck(): void {
    const now = this.#now();
    if (this.path === undefined || Math.abs(now - this.#checkedAt) < RECHECK_MS) return;
    this.#checkedAt = now;
    let ino = -1;
    try {
      ino = lstatSync(this.path).ino;
    } catch {
      // Deleted: opened again below (and created).
    }
    if (this.#opened && ino === this.#opened.ino) return;
    this.#close();
    this.#open(this.path);
  }

  /** The page as last read or updated (no I/O). */
  get last(): Buffer {
    return this.#page;
  }

  /**
   * The page as the file has it now (lock-free; one pread). Values may be a
   * moment old: decisions that must be exclusive go through `update`.
   */
  read(): Buffer {
    this.#recheck();
    const o = this.#opened;
    if (!o) return this.#page;
    try {
      readSync(o.file.fd, this.#page, 0, this.#used, 0);
      if (!this.#matches()) initBoard(this.#page, this.#services, this.#now());
    } catch (err) {
      this.#giveUp(stateErrorOf(this.path!, 'cannot read it', err).message);
    }
    return this.#page;
  }

  /**
   * Runs `change` on the page under the lock and writes it back: a change by
   * one instance is seen by all. A page of other services (the list changed)
   * starts afresh. Without the lock (timeout), `change` runs on this
   * instance's copy only.
   */
  update<T>(change: (page: Buffer) => T): T {
    this.#recheck();
    const o = this.#opened;
    if (!o) return change(this.#page);
    const got = o.lock.acquire();
    if (!got.ok) {
      // A slot another process claimed meanwhile: a new one for the next request.
      if (got.lost === true) {
        this.#close();
        this.#open(this.path!);
      }
      return change(this.#page);
    }
    try {
      readSync(o.file.fd, this.#page, 0, this.#used, 0);
      if (!this.#matches()) initBoard(this.#page, this.#services, this.#now());
      const result = change(this.#page);
      writeSync(o.file.fd, this.#page, 0, this.#used, 0);
      return result;
    } catch (err) {
      this.#giveUp(stateErrorOf(this.path!, 'cannot update it', err).message);
      return change(this.#page);
    } finally {
      o.lock.release();
    }
  }

  close(): void {
    this.#close();
  }
}

/**
 * The page of a policy state file, for `postbal status --policy` (read-only,
 * no lock: status shows a moment of it).
 * @returns the page, or undefined when there is no file yet
 * @throws StateError when it must not or cannot be read
 */
export function readBoardFile(path: string): Buffer | undefined {
  const opened = openStateFile(path, process.geteuid?.() ?? -1);
  if (!opened) return undefined;
  try {
    const page = Buffer.alloc(BOARD_PAGE_BYTES);
    readSync(opened.file.fd, page, 0, BOARD_PAGE_BYTES, 0);
    if (fstatSync(opened.file.fd).size < FILE_BYTES || readHeader(page).magic !== BOARD_MAGIC) {
      throw stateErrorOf(path, 'not a postbal policy state file', new Error('wrong size or magic'));
    }
    return page;
  } finally {
    closeStateFile(opened.file);
  }
}
