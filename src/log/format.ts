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

/**
 * The most a message may carry, in UTF-8 bytes. util-linux logger cuts a
 * longer line at its --size (1 KiB by default) and reads what follows the
 * cut as a new message, `<PRI>` prefix included: a remote reply of ~900 bytes
 * followed by `<8>text` became a second message at user.emerg, which
 * Debian's rsyslog sends to every terminal. Kept well below that size, with
 * room for logger's header; logger is also given a larger --size.
 */
export const MAX_MESSAGE_BYTES = 900;

// eslint-disable-next-line no-control-regex -- control characters are what is replaced
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * A message as it may leave for any log sink: control characters (line
 * breaks included) shown as `\xNN`, never passed on, and at most
 * MAX_MESSAGE_BYTES, cut on a character boundary with a note of what was cut.
 * Whatever outsiders' text a message holds, it stays one message. Pure.
 */
export function neutraliseMessage(message: string): string {
  const text = message.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (text.length <= MAX_MESSAGE_BYTES / 4 || Buffer.byteLength(text) <= MAX_MESSAGE_BYTES) return text;
  const bytes = Buffer.from(text);
  let end = MAX_MESSAGE_BYTES - 32;
  // Back to the start of a UTF-8 character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString()}...[${bytes.length - end} bytes cut]`;
}

/** Outsiders' text (a remote reply, an address from a request) as one quoted field of a log line. */
export function quoteForLog(text: string, max = 300): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  // JSON escapes C0 controls; DEL, C1 controls (a terminal acts on some) and line separators too.
  return JSON.stringify(cut).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Outsiders' text for a terminal (status, --print): control characters shown as \xNN, never sent. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
