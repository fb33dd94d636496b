import { readFileSync } from 'node:fs';
import { lazyRequire } from '../lazy-require.js';
import { SYSTEM_PATH } from './postconf.js';
import type * as ChildProcesses from 'node:child_process';

/**
 * A uid as people read it: `nobody (uid 65534)`. Node has no getpwuid(3);
 * /etc/passwd answers for local users, and a uid it does not list is shown
 * as a number. For messages only; never throws.
 */
export function describeUser(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[2] === String(uid) && f[0]) return `${f[0]} (uid ${uid})`;
    }
  } catch {
    // No passwd file to ask.
  }
  return `uid ${uid}`;
}

/**
 * The uid of `name` (a user name or a number), or undefined when it cannot
 * be known. node:child_process is loaded here, not at start: every spawned
 * instance would pay for it (~5 ms) and only commands ask.
 */
export function uidOf(name: string): number | undefined {
  if (/^\d{1,10}$/.test(name)) return Number(name);
  try {
    const out = lazyRequire<typeof ChildProcesses>('node:child_process').execFileSync('id', ['-u', name], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000, env: { PATH: SYSTEM_PATH },
    }).trim();
    return /^\d+$/.test(out) ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

/** The gid of group `name` (a name or a number), or undefined when it cannot be known. */
export function gidOf(name: string): number | undefined {
  if (/^\d{1,10}$/.test(name)) return Number(name);
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[0] === name && /^\d+$/.test(f[2]!)) return Number(f[2]);
    }
  } catch {
    // No group file to ask.
  }
  return undefined;
}
