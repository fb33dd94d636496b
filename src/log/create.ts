import { LocalSyslog } from './local-syslog.js';
import { parseRemoteTarget, RemoteSyslog } from './remote-syslog.js';
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
