import { readFileSync } from 'node:fs';

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
