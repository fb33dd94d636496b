import { readFileSync } from 'node:fs';

/**
 * The other instances a lock waits for: whether one is still alive, and how
 * to wait for it without spinning (shared by both locks).
 */

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps the whole thread, leaving the CPU to the process being waited for. */
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** True when `pid` names a live process (EPERM: alive, another user's). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The low 32 bits of a process's start time (clock ticks since boot, field
 * 22 of /proc/PID/stat), never 0; 0 where it cannot be read (no /proc, the
 * process gone). A lock records its holder's start time beside its PID so
 * that a PID reused by an unrelated process after the holder was killed is
 * seen to be someone else, and the lock is taken over at once instead of
 * after the wait for a stuck holder.
 */
export function processStart(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return 0;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isSafeInteger(ticks) ? (ticks % 0x1_0000_0000) || 1 : 0;
}

let selfStart: number | undefined;

/** processStart of this process, read once. */
export function ownStart(): number {
  selfStart ??= processStart(process.pid);
  return selfStart;
}

/**
 * True when the holder recorded as (`pid`, `start`) no longer runs: its PID
 * is free, or now names a process started at another time. `start` 0 (not
 * recorded) trusts the PID alone.
 */
export function holderGone(pid: number, start: number): boolean {
  if (!pidAlive(pid)) return true;
  if (start === 0) return false;
  const now = processStart(pid);
  return now !== 0 && now !== start;
}
