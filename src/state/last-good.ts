import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { MAX_CONFIG_BYTES } from '../config/limits.js';
import { readWhole } from '../sys/files.js';
import { lazyRequire } from '../lazy-require.js';
import { writeFileAtomicSync } from './atomic-write.js';
import { checkStateDirectory, forbiddenPathProblem } from './path-safety.js';
import type * as Crypto from 'node:crypto';

/**
 * The last configuration that loaded cleanly, kept beside the state file
 * (`<state>.last-good.cf`, mode 0600, written whole and renamed into place):
 * an instance that cannot load the real file (a typo, then `postfix reload`)
 * serves this copy instead of answering every lookup "400 error:config",
 * which stops all mail. The text is kept as it was, after a short header
 * that says where it came from, its SHA-256 and when it was loaded.
 *
 * Another user cannot have written it: it must belong to us (or root), be
 * writable by no one else, be no link and no bigger than a config may be;
 * its hash must match its text. Anything else reads as no copy.
 */

/** What is known of a saved copy. */
export interface LastGoodConfig {
  readonly path: string;
  /** The config file it was loaded from. */
  readonly source: string;
  readonly sha256: string;
  /** When an instance loaded it cleanly (ISO 8601). */
  readonly loadedAt: string;
  readonly text: string;
}

/** The copy is the config and a header of a few lines. */
const MAX_BYTES = MAX_CONFIG_BYTES + 4096;
const HEADER = /^# postbal: the last configuration that loaded cleanly\n# source: (.*)\n# sha256: ([0-9a-f]{64})\n# loaded: (\S+)\n/;

/**
 * The state directory as a serving instance trusts it (ours or root's, not
 * writable by others, no link), else nothing is kept or read there.
 * @throws StateError
 */
function checkDirectory(statePath: string): void {
  const forbidden = forbiddenPathProblem(statePath);
  if (forbidden) throw forbidden;
  checkStateDirectory(statePath, { euid: process.geteuid?.() ?? 0, strict: true });
}

/** Where the copy for `statePath` lives. */
export function lastGoodPath(statePath: string): string {
  return `${statePath}.last-good.cf`;
}

function sha256(text: string): string {
  return lazyRequire<typeof Crypto>('node:crypto').createHash('sha256').update(text).digest('hex');
}

/** The saved copy, or undefined when there is none that may be trusted. Never throws. */
export function readLastGood(statePath: string): LastGoodConfig | undefined {
  const path = lastGoodPath(statePath);
  let fd: number;
  try {
    checkDirectory(statePath);
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const euid = process.geteuid?.() ?? 0;
    if (!st.isFile() || (st.mode & 0o022) !== 0 || (st.uid !== euid && st.uid !== 0) || st.size > MAX_BYTES) return undefined;
    const all = readWhole(fd, st.size).toString('utf8');
    const m = HEADER.exec(all);
    if (!m) return undefined;
    const text = all.slice(m[0].length);
    if (sha256(text) !== m[2]) return undefined;
    return { path, source: m[1]!, sha256: m[2], loadedAt: m[3]!, text };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Keeps `text`, loaded cleanly from `source`, as the last good copy, unless
 * the copy already holds it. Lock needs: none (a whole-file replace).
 * @returns whether a new copy was written
 * @throws the I/O error when the copy cannot be written
 */
export function saveLastGood(statePath: string, source: string, text: string, now: Date): boolean {
  checkDirectory(statePath);
  const hash = sha256(text);
  const old = readLastGood(statePath);
  if (old && old.sha256 === hash && old.source === source) return false;
  const header = `# postbal: the last configuration that loaded cleanly\n# source: ${source.replace(/\n/g, ' ')}\n# sha256: ${hash}\n# loaded: ${now.toISOString()}\n`;
  writeFileAtomicSync(lastGoodPath(statePath), Buffer.from(header + text), 0o600);
  return true;
}
