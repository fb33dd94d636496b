/** libfaketime (Debian package faketime) for tests that move the wall clock; installed when root. */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

export const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

export function ensureFaketime(): string | undefined {
  if (existsSync(FAKETIME)) return undefined;
  if (process.getuid?.() !== 0) return 'libfaketime missing and not root to install it';
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', 'faketime'], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', 'faketime'], { env, encoding: 'utf8' });
  }
  return existsSync(FAKETIME) ? undefined : `could not install faketime: ${r.stderr}`;
}

/** True when faketime cannot be had, after saying so loudly (a skip, never a pass; under CI a failure). */
export function faketimeUnavailable(t: TestContext, what: string): boolean {
  const missing = ensureFaketime();
  if (!missing) return false;
  const msg = `${what} SKIPPED: ${missing}`;
  process.stderr.write(`\n${'!'.repeat(msg.length)}\n${msg}\n${'!'.repeat(msg.length)}\n`);
  if (process.env.CI) assert.fail(msg);
  t.skip(msg);
  return true;
}

/**
 * The environment that starts a process's wall clock at `local` ("YYYY-MM-DD
 * HH:MM:SS" in `tz`). Only the wall clock: with a faked monotonic clock,
 * libfaketime also shifts timed waits (the locks' sleeps), which then return
 * at once or after months, and a lock times out or hangs; a real clock's
 * monotonic time never jumps either.
 */
export function at(local: string, tz: string): NodeJS.ProcessEnv {
  return { PATH: '/usr/bin:/bin', TZ: tz, LD_PRELOAD: FAKETIME, FAKETIME: `@${local}`, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}
