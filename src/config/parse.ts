import { ConfigError, type ConfigProblem } from '../errors.js';
import { tcpTableReplyBytes } from '../protocol/tcp-table.js';
import { TCP_TABLE_MAX_REPLY_BYTES } from '../protocol/limits.js';
import { MAX_TRANSPORTS } from '../state/layout.js';
import { fingerprintPool } from '../balance/hash.js';
import type { ConfigWarning, PoolConfig, TransportEntry } from './types.js';

/** Largest weight accepted; keeps the round-robin arithmetic exact in doubles. */
export const MAX_WEIGHT = 1_000_000;

/**
 * The postbal.pl format: one `{weight}transport:nexthop` per line, `#` comments,
 * blank lines. Whitespace around the entry and after `}` is tolerated.
 * Transport names follow master.cf service names: letters, digits, `.`, `_`, `-`.
 */
const ENTRY = /^\{\s*([^}]*?)\s*\}\s*(\S+)$/;
const TRANSPORT = /^[A-Za-z0-9._-]+:/;

export interface ParsedConfig {
  readonly pool: PoolConfig;
  readonly warnings: readonly ConfigWarning[];
}

function describe(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return JSON.stringify(shown);
}

/**
 * Parses config text. Pure.
 * @throws ConfigError listing every bad line (not just the first).
 */
export function parseConfig(text: string, file: string): ParsedConfig {
  const problems: ConfigProblem[] = [];
  const warnings: ConfigWarning[] = [];
  const entries: TransportEntry[] = [];
  const byValue = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!.replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const m = ENTRY.exec(trimmed);
    if (!m) {
      problems.push({
        file, line: lineNo, field: 'entry',
        expected: '"{weight}transport:nexthop" (e.g. "{3}smtp0:"), a "#" comment or a blank line',
        received: describe(trimmed),
      });
      continue;
    }
    const weightText = m[1]!;
    const value = m[2]!;
    const weight = /^\d+$/.test(weightText) ? Number(weightText) : Number.NaN;
    if (!Number.isSafeInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
      problems.push({
        file, line: lineNo, field: 'weight',
        expected: `an integer from 1 to ${MAX_WEIGHT}`, received: describe(weightText),
      });
      continue;
    }
    if (!TRANSPORT.test(value)) {
      problems.push({
        file, line: lineNo, field: 'transport',
        expected: 'a master.cf service name followed by ":" and an optional nexthop (e.g. "smtp1:[relay.example]:25")',
        received: describe(value),
      });
      continue;
    }
    if (tcpTableReplyBytes(value) > TCP_TABLE_MAX_REPLY_BYTES) {
      problems.push({
        file, line: lineNo, field: 'transport',
        expected: `a reply of at most ${TCP_TABLE_MAX_REPLY_BYTES} bytes including "200 " and the newline (tcp_table(5))`,
        received: `${tcpTableReplyBytes(value)} bytes`,
      });
      continue;
    }
    const seen = byValue.get(value);
    if (seen !== undefined) {
      const prev = entries[seen]!;
      entries[seen] = { ...prev, weight: Math.min(MAX_WEIGHT, prev.weight + weight) };
      warnings.push({ line: lineNo, message: `duplicate of line ${prev.line} (${value}): weights added` });
      continue;
    }
    byValue.set(value, entries.length);
    entries.push({ value, weight, line: lineNo });
  }
  if (problems.length === 0 && entries.length === 0) {
    problems.push({ file, line: 0, field: 'pool', expected: 'at least one "{weight}transport:nexthop" line', received: 'none' });
  }
  if (entries.length > MAX_TRANSPORTS) {
    problems.push({ file, line: 0, field: 'pool', expected: `at most ${MAX_TRANSPORTS} transports`, received: String(entries.length) });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const transports = Object.freeze(entries.map((e) => Object.freeze(e)));
  return {
    pool: Object.freeze({ file, transports, fingerprint: fingerprintPool(transports) }),
    warnings,
  };
}
