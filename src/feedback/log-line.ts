import type { LogRecord } from './types.js';

/**
 * Cuts one log line into tag, PID, sender uid and message. Three forms:
 *  - journald JSON (`journalctl -o json`): `_UID` comes from the socket's
 *    credentials, so the sender cannot forge it;
 *  - postbal's rsyslog template (examples/rsyslog-postbal.conf):
 *    `uid=102 pid=4242 tag=postfix-smtp1/smtp[4242]: msg= …`, uid from
 *    imuxsock's ParseTrusted, likewise from the kernel;
 *  - plain syslog lines, RFC 3339 (rsyslog on Debian 12) or `Nov 22 12:00:36`
 *    (Postfix's maillog_file): no uid, so believed only with --trust-input.
 * Pure; never throws.
 */

/** Longer lines are not Postfix delivery lines (Postfix caps its own at 2 KiB or so); they are skipped. */
export const MAX_LOG_LINE = 16_384;

const PLAIN = /^(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) \S+ ([^\s[\]:]+)(?:\[(\d+)\])?: (.*)$/;
const ANNOTATED = /^uid=(\d*) pid=(\d*) tag=([^\s[\]:]+)(?:\[(\d+)\])?:? msg= ?(.*)$/;

function num(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  return Number(text);
}

function fromJournal(line: string): LogRecord | undefined {
  let j: unknown;
  try {
    j = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof j !== 'object' || j === null) return undefined;
  const o = j as Record<string, unknown>;
  const tag = o.SYSLOG_IDENTIFIER;
  let message = o.MESSAGE;
  // journald gives a message that is not valid UTF-8 as an array of bytes.
  if (Array.isArray(message) && message.length <= MAX_LOG_LINE && message.every((b) => typeof b === 'number')) {
    message = Buffer.from(message).toString('latin1');
  }
  if (typeof tag !== 'string' || typeof message !== 'string') return undefined;
  return {
    tag,
    pid: num(typeof o.SYSLOG_PID === 'string' ? o.SYSLOG_PID : typeof o._PID === 'string' ? o._PID : undefined),
    uid: num(typeof o._UID === 'string' ? o._UID : undefined),
    message,
  };
}

/** @returns the record, or undefined for a line in none of the three forms */
export function parseLogLine(line: string): LogRecord | undefined {
  if (line.length > MAX_LOG_LINE) return undefined;
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.startsWith('{')) return fromJournal(text);
  const a = ANNOTATED.exec(text);
  // The pid from the credentials, not the one the sender wrote into its tag.
  if (a) return { tag: a[3]!, pid: num(a[2]) ?? num(a[4]), uid: num(a[1]), message: a[5]! };
  const p = PLAIN.exec(text);
  if (p) return { tag: p[1]!, pid: num(p[2]), uid: undefined, message: p[3]! };
  return undefined;
}
