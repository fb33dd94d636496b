import { LocalSyslog } from './local-syslog.js';
import { parseRemoteTarget, RemoteSyslog } from './remote-syslog.js';
import { lazyRequire } from '../lazy-require.js';
import { NullLogger, StreamLogger } from './stream-logger.js';
import type { Logger } from './types.js';

/** Syslog targets accepted by --syslog, for messages. */
export const SYSLOG_TARGETS = 'local, none, unix:/path/to/socket, udp://host[:port], tcp://host[:port] or tls://host[:port]';

/** True when `createLogger` understands `target` (checked without building one). */
export function isSyslogTarget(target: string): boolean {
  return ['none', 'local', 'stderr'].includes(target)
    || (target.startsWith('unix:') && target.length > 5)
    || parseRemoteTarget(target) !== undefined;
}

/**
 * Builds the logger for a `--syslog` target.
 * @returns undefined when the target is not understood
 */
export function createLogger(target: string, tag: string, pid: number): Logger | undefined {
  if (target === 'none') return new NullLogger();
  if (target === 'local') return new LocalSyslog({ tag, pid });
  if (target === 'stderr') return new StreamLogger(2, tag, pid);
  if (target.startsWith('unix:') && target.length > 5) return new LocalSyslog({ tag, pid, socket: target.slice(5) });
  const remote = parseRemoteTarget(target);
  return remote ? new RemoteSyslog(remote, tag, pid) : undefined;
}

/**
 * Loads syslog-pro now when `target` needs it and this process is root:
 * called before a command takes the state owner's identity, which may not
 * be able to read where postbal is installed (a checkout in a 0700
 * directory). Spawned instances, not root, keep loading it after their
 * first reply.
 */
export function loadSyslogLibraryWhileRoot(target: string): void {
  if (process.getuid?.() !== 0 || parseRemoteTarget(target) === undefined) return;
  try {
    lazyRequire('syslog-pro');
  } catch {
    // The logger says so when it cannot send.
  }
}
