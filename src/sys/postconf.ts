import { lazyRequire } from '../lazy-require.js';
import type * as ChildProcesses from 'node:child_process';

/** Where postconf, id and logger live on Debian; spawn(8) gives us less. */
export const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Asks Postfix's postconf(1) (`-c DIR` for another instance in `args`).
 * node:child_process is loaded on first use, never at start.
 * @returns its output, or why there is none (not installed, its own error)
 */
export function postconf(args: readonly string[]): { readonly out: string } | { readonly problem: string } {
  try {
    return { out: lazyRequire<typeof ChildProcesses>('node:child_process').execFileSync('postconf', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, env: { PATH: SYSTEM_PATH } }) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    return { problem: e.code === 'ENOENT' ? 'postconf not found' : `postconf ${args.join(' ')} failed: ${(e.stderr ?? '').trim().split('\n')[0] || e.message}` };
  }
}
