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
