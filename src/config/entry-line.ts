import { isIP } from 'node:net';
import type { ConfigProblem } from '../errors.js';
import { tcpTableReplyBytes } from '../protocol/tcp-table.js';
import { TCP_TABLE_MAX_REPLY_BYTES } from '../protocol/limits.js';
import { parseWarmupAttribute } from './warmup-directives.js';
import { parseRateAttribute } from './rate-attribute.js';
import type { RateLimit, TransportEntry } from './types.js';

/**
 * One pool line, `{weight}transport:nexthop [priority=N] [warmup=…]
 * [rate=N/PERIOD] [source=ADDRESS] [syslog_name=NAME]`: postbal.pl's format and the
 * attributes postbal.pl rejected, so an old file keeps its meaning. Pure.
 */

/** Largest weight accepted; keeps the round-robin arithmetic exact in doubles. */
export const MAX_WEIGHT = 1_000_000;

/** Highest priority number (the least preferred tier). */
export const MAX_PRIORITY = 9999;

/** `{weight}transport:nexthop attributes`; whitespace around the entry and after `}` tolerated. */
export const ENTRY = /^\{\s*([^}]*?)\s*\}\s*(\S+)(?:\s+(.*))?$/;
/** A master.cf service name (letters, digits, `.`, `_`, `-`) and `:`. */
export const TRANSPORT = /^[A-Za-z0-9._-]+:/;

/** An entry as one line gives it (duplicates are merged by the caller). */
export type EntryLine = Omit<TransportEntry, 'line'>;

export function describeValue(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return JSON.stringify(shown);
}

/** The entry's attributes, or undefined after pushing what is wrong with them. */
function parseAttributes(text: string, where: { file: string; line: number }, problems: ConfigProblem[]): Pick<EntryLine, 'priority' | 'warmup' | 'rate' | 'source' | 'syslogName'> | undefined {
  let priority = 0;
  let warmup: number[] | undefined;
  let rate: RateLimit | undefined;
  let source: string | undefined;
  let syslogName: string | undefined;
  let bad = false;
  const problem = (field: string, expected: string, received: string): void => {
    bad = true;
    problems.push({ ...where, field, expected, received: describeValue(received) });
  };
  for (const attr of text.split(/\s+/).filter((a) => a !== '')) {
    const p = /^priority=(\d{1,4})$/.exec(attr);
    if (p) {
      priority = Number(p[1]);
    } else if (attr.startsWith('warmup=')) {
      const caps = parseWarmupAttribute(attr.slice('warmup='.length));
      if ('expected' in caps) problem('warmup', caps.expected, attr.slice('warmup='.length));
      else warmup = [...caps];
    } else if (attr.startsWith('rate=')) {
      const r = parseRateAttribute(attr.slice('rate='.length));
      if ('expected' in r) problem('rate', r.expected, attr.slice('rate='.length));
      else rate = r;
    } else if (attr.startsWith('syslog_name=')) {
      syslogName = attr.slice('syslog_name='.length);
      if (!/^[A-Za-z0-9._/-]{1,64}$/.test(syslogName)) problem('syslog_name', 'the transport\'s master.cf syslog_name (letters, digits, . _ - /)', syslogName);
    } else if (attr.startsWith('source=')) {
      source = attr.slice('source='.length);
      if (isIP(source) === 0) problem('source', 'an IPv4 or IPv6 address of this host (the transport\'s smtp_bind_address)', source);
    } else {
      problem(attr.startsWith('priority=') ? 'priority' : 'attribute', `"priority=N" with N from 0 (preferred, the default) to ${MAX_PRIORITY}, "warmup=CAP,CAP,…", "rate=N/PERIOD", "source=ADDRESS" or "syslog_name=NAME"`, attr);
    }
  }
  if (bad) return undefined;
  return { priority, ...(warmup === undefined ? {} : { warmup: Object.freeze(warmup) }), ...(rate === undefined ? {} : { rate }), ...(source === undefined ? {} : { source }), ...(syslogName === undefined ? {} : { syslogName }) };
}

/**
 * One entry line matched by ENTRY.
 * @returns the entry, or undefined after pushing every problem of the line
 */
export function parseEntryLine(m: RegExpExecArray, where: { file: string; line: number }, problems: ConfigProblem[]): EntryLine | undefined {
  const weightText = m[1]!;
  const value = m[2]!;
  const weight = /^\d+$/.test(weightText) ? Number(weightText) : Number.NaN;
  if (!Number.isSafeInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
    problems.push({ ...where, field: 'weight', expected: `an integer from 1 to ${MAX_WEIGHT}`, received: describeValue(weightText) });
    return undefined;
  }
  if (!TRANSPORT.test(value)) {
    problems.push({ ...where, field: 'transport', expected: 'a master.cf service name followed by ":" and an optional nexthop (e.g. "smtp1:[relay.example]:25")', received: describeValue(value) });
    return undefined;
  }
  if (tcpTableReplyBytes(value) > TCP_TABLE_MAX_REPLY_BYTES) {
    problems.push({ ...where, field: 'transport', expected: `a reply of at most ${TCP_TABLE_MAX_REPLY_BYTES} bytes including "200 " and the newline (tcp_table(5))`, received: `${tcpTableReplyBytes(value)} bytes` });
    return undefined;
  }
  const attributes = parseAttributes(m[3] ?? '', where, problems);
  return attributes && { value, weight, ...attributes };
}
