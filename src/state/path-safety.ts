import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { describeUser } from '../sys/users.js';
import { dirname } from 'node:path';
import { StateError } from '../errors.js';

/**
 * Whether a state path may be trusted: another local user who can write the
 * directory or plant the file can stall or steer mail, so anything not ours
 * (or root's), writable by others, linked or not a regular file is refused.
 * No I/O beyond lstat/fstat results and one non-recursive mkdir.
 */

/** Paths where a state file makes no sense, and where `mkdir -p` can hang (/proc). */
const FORBIDDEN_PREFIXES = ['/proc/', '/sys/', '/dev/'];

/** Why `path` can never hold a state file, or undefined. */
export function forbiddenPathProblem(path: string): StateError | undefined {
  if (!FORBIDDEN_PREFIXES.some((p) => path.startsWith(p))) return undefined;
  return new StateError('EUNSAFE', path, `state path is under /${path.split('/')[1]}: not a place for a state file`);
}

/**
 * An I/O failure as a StateError: permission errors say the file is not ours
 * to change (ENOPERM), anything else that it cannot be used now.
 */
export function stateErrorOf(path: string, what: string, err: unknown): StateError {
  if (err instanceof StateError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const kind = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'ENOPERM' : 'EUNAVAILABLE';
  return new StateError(kind, path, `${what} (${code ?? (err as Error).message ?? String(err)})`);
}

export interface DirectoryCheck {
  /** The effective uid of this process. */
  readonly euid: number;
  /**
   * A command run by an administrator: a missing directory is an error (it is
   * the serving user's to create), and root may act in another user's directory.
   */
  readonly strict: boolean;
}

/**
 * Checks (and, when serving, creates with mode 0700) the state file's directory.
 * @throws StateError naming the directory, what was expected and what was found
 */
export function checkStateDirectory(path: string, opts: DirectoryCheck): void {
  const dir = dirname(path);
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw stateErrorOf(dir, 'state directory cannot be examined', err);
    if (opts.strict) throw new StateError('EUNAVAILABLE', dir, 'state directory does not exist (it is created by the first lookup of a serving postbal, with the owner Postfix runs postbal as)');
    // Never recursive: mkdir -p of a path under /proc never returns.
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (mkErr) {
      if ((mkErr as NodeJS.ErrnoException).code !== 'EEXIST') throw stateErrorOf(dir, 'state directory missing and cannot be created', mkErr);
    }
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw new StateError('EUNSAFE', dir, 'state directory is a symlink: refusing it');
  if (!st.isDirectory()) throw new StateError('EUNAVAILABLE', dir, 'state directory is not a directory');
  if ((st.mode & 0o022) !== 0) {
    throw new StateError('EUNSAFE', dir, `state directory is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}, expected 700 or 755): anyone who can write it can stall or steer mail`);
  }
  if (st.uid !== opts.euid && st.uid !== 0 && !(opts.strict && opts.euid === 0)) {
    throw new StateError('EUNSAFE', dir, `state directory is owned by ${describeUser(st.uid)}, expected us (${describeUser(opts.euid)}) or root`);
  }
}

/**
 * Checks an opened state file's fstat.
 * @throws StateError when the file must not be trusted
 */
export function checkStateFile(path: string, st: Stats, euid: number): void {
  if (!st.isFile()) throw new StateError('EUNSAFE', path, 'state file is not a regular file (FIFO, directory or device)');
  if (euid !== 0 && st.uid !== euid) throw new StateError('EUNSAFE', path, `state file is owned by ${describeUser(st.uid)}, expected us (${describeUser(euid)})`);
  if ((st.mode & 0o022) !== 0) throw new StateError('EUNSAFE', path, `state file is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}, expected 600)`);
  if (st.nlink !== 1) throw new StateError('EUNSAFE', path, `state file has ${st.nlink} hard links, expected 1`);
}
