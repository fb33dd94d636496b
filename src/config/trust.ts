import type { Stats } from 'node:fs';
import { describeUser } from '../sys/users.js';
import type { ConfigProblem } from '../errors.js';

/**
 * A config file decides where mail (or policy requests) go, so only root or
 * the user postbal runs as may have written it, and nobody else may write it
 * later: otherwise any local user could route mail through a transport of
 * their choosing. The same rule as sshd's StrictModes, for the same reason.
 * @returns the problem, or undefined when the file is trustworthy
 */
export function untrustedConfigProblem(st: Stats, file: string, risk: string): ConfigProblem | undefined {
  const euid = process.geteuid?.() ?? 0;
  if (st.isFile() && (st.mode & 0o022) === 0 && (st.uid === 0 || st.uid === euid)) return undefined;
  return {
    file, line: 0, field: 'owner and mode',
    expected: `a regular file owned by root${euid === 0 ? '' : ` or ${describeUser(euid)}`}, writable by no one else (${risk})`,
    received: `${st.isFile() ? 'a file' : 'not a regular file'} owned by ${describeUser(st.uid)}, mode ${(st.mode & 0o7777).toString(8)}`,
  };
}
