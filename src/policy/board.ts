import { fstatSync, readSync, writeSync } from 'node:fs';
import { monotonicMs } from '../clock.js';
import { DEFAULTS } from '../defaults.js';
import { StateFileBinding } from '../state/file-binding.js';
import { stateErrorOf } from '../state/path-safety.js';
import { closeStateFile, openStateFile } from '../state/state-file.js';
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
/** After a failure, how long the instance works alone before it tries the file again. */
const RETRY_MS = 1000;

/** A policy file: refused, never replaced, when it is anything else (the balancer's file above all). */
function policyFile(size: number, magic: number): { refuse: string } | undefined {
  if (size < FILE_BYTES) return { refuse: `is ${size} bytes, expected ${FILE_BYTES}: not a postbal policy state file` };
  if (magic !== 0 && magic !== BOARD_MAGIC) {
    const start = Buffer.alloc(4);
    start.writeUInt32LE(magic);
    return { refuse: `is not a postbal policy state file (it starts with ${JSON.stringify(start.toString('latin1'))}; the balancer's state file cannot be shared with policy)` };
  }
  return undefined;
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
  /** Which file is the state file and this instance's lock slot in it: the balancer's own mechanism. */
  readonly #binding: StateFileBinding | undefined;
  #failedAt = 0;
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
    if (path === undefined) return;
    this.#binding = new StateFileBinding({
      path,
      memoSlots: 0,
      lockLimits: { timeoutMs: DEFAULTS.lockTimeoutMs, staleMs: DEFAULTS.lockStaleMs },
      strict: false,
      warn: (m) => this.#warn(`policy: ${m}`),
      now: monotonicMs,
      vet: policyFile,
    });
    this.#file();
  }

  /** Where the board lives, for the start-up log line. */
  get where(): string {
    return this.#problem === undefined && this.#binding?.file ? this.path! : `memory (${this.#problem ?? 'no state file'})`;
  }

  #giveUp(why: string): void {
    if (this.#problem === undefined) this.#warn(`policy: state ${this.path}: ${why}; this instance keeps its breakers and round robin to itself`);
    this.#problem = why;
    this.#failedAt = monotonicMs();
    this.#binding?.close();
  }

  /**
   * The state file, open and with a lock slot claimed, or undefined while
   * the instance works alone (tried again every RETRY_MS). The binding
   * re-checks once a second that the path still names the open file.
   */
  #file(): OpenFile | undefined {
    const b = this.#binding;
    if (!b || (this.#problem !== undefined && monotonicMs() - this.#failedAt < RETRY_MS)) return undefined;
    try {
      b.ready();
    } catch (err) {
      this.#giveUp(stateErrorOf(this.path!, 'cannot use it', err).message);
      return undefined;
    }
    if (this.#problem !== undefined) this.#warn(`policy: state ${this.path} usable again; shared with the other instances`);
    this.#problem = undefined;
    return b.file;
  }

  #matches(): boolean {
    const h = readHeader(this.#page);
    return h.magic === BOARD_MAGIC && h.count === this.#services.length && h.fingerprint === this.#fingerprint;
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
    const file = this.#file();
    if (!file) return this.#page;
    try {
      readSync(file.fd, this.#page, 0, this.#used, 0);
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
    const file = this.#file();
    if (!file || !this.#binding) return change(this.#page);
    try {
      const done = this.#binding.locked((f) => {
        readSync(f.fd, this.#page, 0, this.#used, 0);
        if (!this.#matches()) initBoard(this.#page, this.#services, this.#now());
        const result = change(this.#page);
        writeSync(f.fd, this.#page, 0, this.#used, 0);
        return result;
      });
      return done.ok ? done.value : change(this.#page);
    } catch (err) {
      this.#giveUp(stateErrorOf(this.path!, 'cannot update it', err).message);
      return change(this.#page);
    }
  }

  close(): void {
    this.#binding?.close();
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
