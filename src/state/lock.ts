import {
  closeSync, constants, fstatSync, openSync, readSync, unlinkSync, writeSync,
} from 'node:fs';
import { describeUser } from '../sys/users.js';
import { monotonicMs } from '../clock.js';
import { holderGone, ownStart, pidAlive, sleepMs } from './peers.js';

/**
 * The sidecar lock: a `<state>.lock` file created with O_EXCL. It guards the
 * rare operations that change which file is the state file (creating or
 * replacing it) and the claiming of lock-table slots; lookups use the
 * lock-table lock (bakery-lock.ts), which needs no directory operation.
 *
 * Node has no flock(2) without a native addon, so the lock is a file whose
 * existence is the lock. It holds "PID START NONCE" (START: the holder's
 * start time, peers.ts) so that a lock left by a killed process is recognised
 * (its PID is gone, or reused by a process started at another time) and
 * broken at once. One held by a live process is broken only after `staleMs`
 * unchanged: a holder merely slow on a loaded machine must never be
 * overruled, or two processes could claim one lock-table slot. The NONCE
 * changes with every acquisition, so the same text means the same holding.
 * Breaking goes through a second O_EXCL file, `<state>.lock.break`, and
 * re-reads the lock under it, so two waiters can never both break it and one
 * of them delete the other's fresh lock.
 *
 * Waiting sleeps (Atomics.wait) with a growing backoff instead of spinning, so
 * a waiter leaves the CPU to the holder: on 2 cores a spinning waiter halves
 * the throughput of 4 instances.
 */

export type AcquireResult =
  | { readonly ok: true; readonly brokeStale: boolean }
  | { readonly ok: false; readonly reason: 'timeout' | 'unsafe' | 'unavailable'; readonly detail: string };

export interface LockOptions {
  /** Give up after this long (the caller then serves from memory). */
  readonly timeoutMs: number;
  /** A lock held this long by a live process is considered stuck and broken (watched across acquisitions). */
  readonly staleMs: number;
}


const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

interface LockContent {
  readonly text: string;
  readonly pid: number;
  /** 0 when the file does not say (written by an older postbal). */
  readonly start: number;
  readonly uid: number;
}

function readLock(path: string): LockContent | 'gone' | 'unsafe' {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'gone';
    return 'unsafe'; // ELOOP (symlink) and anything else we will not trust
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'unsafe';
    const buf = Buffer.alloc(64);
    const n = readSync(fd, buf, 0, 64, 0);
    const text = buf.toString('latin1', 0, n);
    const words = text.trim().split(' ');
    const pid = Number.parseInt(words[0] ?? '', 10);
    const start = words.length >= 3 ? Number.parseInt(words[1]!, 10) || 0 : 0;
    return { text, pid, start, uid: st.uid };
  } finally {
    closeSync(fd);
  }
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone: nothing to do.
  }
}

export class FileLock {
  readonly path: string;
  readonly #breakPath: string;
  readonly #opts: LockOptions;
  readonly #nonce: string;
  readonly #euid: number;
  #acquisitions = 0;
  #content = Buffer.alloc(0);
  #held = false;
  /** The holder last seen in the way, and since when: a stuck holder's time adds up across acquisitions. */
  #watched: string | undefined;
  #watchedSince = 0;
  #watchedGone = false;

  constructor(path: string, opts: LockOptions) {
    this.path = path;
    this.#breakPath = `${path}.break`;
    this.#opts = opts;
    this.#euid = process.geteuid?.() ?? -1;
    this.#nonce = Math.floor(Math.random() * 0xffffffff).toString(16);
  }

  /** Takes the lock, waiting at most `timeoutMs`. Must not be held already. */
  acquire(): AcquireResult {
    const start = monotonicMs();
    let backoff = 0.05;
    let brokeStale = false;
    this.#content = Buffer.from(`${process.pid} ${ownStart()} ${this.#nonce}.${++this.#acquisitions}\n`);
    for (;;) {
      try {
        const fd = openSync(this.path, CREATE_FLAGS, 0o600);
        try {
          writeSync(fd, this.#content);
        } finally {
          closeSync(fd);
        }
        this.#held = true;
        return { ok: true, brokeStale };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') {
          return { ok: false, reason: 'unavailable', detail: `cannot create ${this.path}: ${code ?? String(err)}` };
        }
      }
      const holder = readLock(this.path);
      if (holder === 'gone') continue;
      if (holder === 'unsafe') {
        return { ok: false, reason: 'unsafe', detail: `${this.path} is not a regular file (symlink, FIFO or other): refusing to trust it` };
      }
      if (holder.uid !== this.#euid && this.#euid !== 0 && holder.uid !== 0) {
        return { ok: false, reason: 'unsafe', detail: `${this.path} is owned by ${describeUser(holder.uid)}, not by us (${describeUser(this.#euid)}): refusing to wait for it` };
      }
      const now = monotonicMs();
      if (holder.text !== this.#watched) {
        this.#watched = holder.text;
        this.#watchedSince = now;
        this.#watchedGone = holderGone(holder.pid, holder.start);
      }
      if (this.#watchedGone || !pidAlive(holder.pid) || now - this.#watchedSince >= this.#opts.staleMs) {
        if (this.#breakIfStill(holder.text)) brokeStale = true;
        continue;
      }
      if (now - start >= this.#opts.timeoutMs) {
        return { ok: false, reason: 'timeout', detail: `${this.path} held by pid ${holder.pid} for over ${Math.round(now - start)} ms` };
      }
      sleepMs(backoff);
      backoff = Math.min(backoff * 2, 2);
    }
  }

  /** Deletes the lock if it still holds `text`; true when it did. */
  #breakIfStill(text: string): boolean {
    let fd: number;
    try {
      fd = openSync(this.#breakPath, CREATE_FLAGS, 0o600);
    } catch {
      // Another waiter is breaking it; a breaker killed mid-way leaves its
      // file behind, so a break file older than the stale limit is removed.
      const breaker = readLock(this.#breakPath);
      if (breaker !== 'gone' && breaker !== 'unsafe' && holderGone(breaker.pid, breaker.start)) tryUnlink(this.#breakPath);
      sleepMs(0.1);
      return false;
    }
    try {
      writeSync(fd, this.#content);
      closeSync(fd);
      const now = readLock(this.path);
      if (now !== 'gone' && now !== 'unsafe' && now.text === text) {
        tryUnlink(this.path);
        return true;
      }
      return false;
    } finally {
      tryUnlink(this.#breakPath);
    }
  }

  /** Releases the lock. Lock needs: must be held. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    tryUnlink(this.path);
  }
}
