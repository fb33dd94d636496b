import type { Level } from './types.js';

/** syslog(3) facility mail (2) and the severities we use (RFC 5424 table 2). */
const FACILITY_MAIL = 2;
const SEVERITY: Record<Level, number> = { error: 3, warning: 4, info: 6 };

/** The PRI value of a mail-facility message at `level`. */
export function priority(level: Level): number {
  return FACILITY_MAIL * 8 + SEVERITY[level];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * RFC 3164 timestamp, `Mmm dd HH:MM:SS` in local time with a 24-hour clock
 * (syslog-pro's own formatter uses `hh`, a 12-hour clock, which puts 14:05
 * and 02:05 on the same line).
 */
export function rfc3164Timestamp(d: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const day = String(d.getDate()).padStart(2, ' ');
  return `${MONTHS[d.getMonth()]} ${day} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A complete RFC 3164 message, as sent to a remote collector. */
export function formatRfc3164(level: Level, d: Date, host: string, tag: string, pid: number, message: string): string {
  return `<${priority(level)}>${rfc3164Timestamp(d)} ${host} ${tag}[${pid}]: ${message}`;
}

/**
 * Shows a lookup key (a byte string) in a log line: bytes outside printable
 * ASCII, and `%`, as %XX, the way Postfix itself encoded it; length capped.
 */
export function formatKeyForLog(bytes: string, max = 256): string {
  const safe = !/[^\u0021-\u007e]|%/.test(bytes)
    ? bytes
    : bytes.replace(/[^\u0021-\u007e]|%/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return safe.length > max ? `${safe.slice(0, max)}...` : safe;
}
