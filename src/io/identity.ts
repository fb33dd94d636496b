import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Run as root, a command takes the identity of the state directory's owner
 * before it touches anything there (setgroups, setgid, then setuid, as
 * Postfix's postdrop and postqueue drop privileges). That user (the one
 * Postfix runs postbal as) owns and can write the directory: as root, a
 * command could be made to write through a link that user planted, anywhere
 * on the host. As that user it can do nothing the owner could not do.
 */

export interface Identity {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Becomes the owner of `statePath`'s directory when run as root and that
 * directory belongs to someone else. Nothing to do for `none`, for a
 * directory that does not exist yet (the first serving instance creates it)
 * or one owned by root.
 * @returns the identity taken, or undefined when none was taken
 * @throws Error when the identity cannot be taken (never goes on as root then)
 */
export function becomeStateOwner(statePath: string): Identity | undefined {
  if (statePath === 'none' || typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  let uid: number;
  let gid: number;
  try {
    const st = lstatSync(dirname(statePath));
    if (!st.isDirectory()) return undefined;
    ({ uid, gid } = st);
  } catch {
    return undefined;
  }
  if (uid === 0) return undefined;
  try {
    process.setgroups!([gid]);
    process.setgid!(gid);
    process.setuid!(uid);
  } catch (err) {
    throw new Error(`cannot take the identity of ${dirname(statePath)}'s owner (uid ${uid}, gid ${gid}): ${(err as Error).message}`);
  }
  return { uid, gid };
}
