import { isIP } from 'node:net';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { tcpTableReplyBytes } from '../protocol/tcp-table.js';
import { TCP_TABLE_MAX_REPLY_BYTES } from '../protocol/limits.js';
import { MAX_TRANSPORTS } from './limits.js';
import { fingerprintPool, hashKey } from '../keys/hash.js';
import { compileScopeRule, EVERY_KEY } from './scope.js';
import { FEEDBACK_DIRECTIVES, FeedbackDirectives } from './feedback-directives.js';
import { WarmupDirectives, parseWarmupAttribute } from './warmup-directives.js';
import {
  type Algorithm, type ConfigWarning, type PoolConfig, type ScopeRule, type TransportEntry,
} from './types.js';

/** The algorithm names `algorithm =` and `--algorithm` accept (balance/algorithms/). */
export const ALGORITHMS: readonly Algorithm[] = ['wrr', 'random', 'sticky'];

/** Largest weight accepted; keeps the round-robin arithmetic exact in doubles. */
export const MAX_WEIGHT = 1_000_000;

/** Highest priority number (the least preferred tier). */
export const MAX_PRIORITY = 9999;

/**
 * The postbal.pl format: one `{weight}transport:nexthop` per line, `#` comments,
 * blank lines. Whitespace around the entry and after `}` is tolerated.
 * Transport names follow master.cf service names: letters, digits, `.`, `_`, `-`.
 *
 * Extensions, all of which postbal.pl rejected, so an old file keeps its meaning:
 * `priority=N` after an entry, and `name = value` directive lines
 * (`algorithm`, `fallback`, `match`, `feedback_*`: config/feedback-directives.ts).
 */
const ENTRY = /^\{\s*([^}]*?)\s*\}\s*(\S+)(?:\s+(.*))?$/;
const DIRECTIVE = /^([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*)$/;
const TRANSPORT = /^[A-Za-z0-9._-]+:/;
const DIRECTIVES = ['algorithm', 'fallback', 'match', 'warmup_provider'] as const;

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
  let algorithm: { value: Algorithm; line: number } | undefined;
  let fallback: { value: string | undefined; line: number } | undefined;
  const feedback = new FeedbackDirectives(file);
  const warmupDirectives = new WarmupDirectives(file);
  const include: ScopeRule[] = [];
  const exclude: ScopeRule[] = [];
  const once = (lineNo: number, name: string, prev: { line: number } | undefined): boolean => {
    if (prev === undefined) return true;
    problems.push({ file, line: lineNo, field: name, expected: `one "${name}" line (line ${prev.line} has one already)`, received: 'a second one' });
    return false;
  };
  const directive = (lineNo: number, name: string, value: string): void => {
    switch (name) {
      case 'algorithm': {
        if (!once(lineNo, name, algorithm)) return;
        const a = value.toLowerCase() as Algorithm;
        if (ALGORITHMS.includes(a)) algorithm = { value: a, line: lineNo };
        else problems.push({ file, line: lineNo, field: name, expected: ALGORITHMS.join(', '), received: describe(value) });
        return;
      }
      case 'fallback': {
        if (!once(lineNo, name, fallback)) return;
        if (value === 'none') {
          fallback = { value: undefined, line: lineNo };
        } else if (!TRANSPORT.test(value)) {
          problems.push({
            file, line: lineNo, field: name,
            expected: '"none" or a transport:nexthop answered when no transport is available (e.g. "retry:4.3.2 no source IP available" or "smtp:")',
            received: describe(value),
          });
        } else if (tcpTableReplyBytes(value) > TCP_TABLE_MAX_REPLY_BYTES) {
          problems.push({ file, line: lineNo, field: name, expected: `a reply of at most ${TCP_TABLE_MAX_REPLY_BYTES} bytes`, received: `${tcpTableReplyBytes(value)} bytes` });
        } else {
          fallback = { value, line: lineNo };
        }
        return;
      }
      case 'match': {
        const patterns = value.split(/\s+/).map((p) => (p.startsWith('/') ? p : p.replace(/,$/, ''))).filter((p) => p !== '');
        if (patterns.length === 0) {
          problems.push({ file, line: lineNo, field: name, expected: 'one or more patterns', received: 'none' });
          return;
        }
        for (const written of patterns) {
          const negated = written.startsWith('!');
          const rule = compileScopeRule(negated ? written.slice(1) : written);
          if (typeof rule === 'string') problems.push({ file, line: lineNo, field: name, expected: rule, received: describe(written) });
          else (negated ? exclude : include).push(rule);
        }
        return;
      }
      case 'warmup_provider':
        problems.push(...warmupDirectives.provider(value, lineNo));
        return;
      default: {
        if (name.startsWith('feedback_')) {
          const problem = feedback.set(name, value, lineNo);
          if (problem) problems.push(problem);
          return;
        }
        problems.push({ file, line: lineNo, field: 'directive', expected: [...DIRECTIVES, ...FEEDBACK_DIRECTIVES].join(', '), received: describe(name) });
      }
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!.replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const d = trimmed.startsWith('{') ? null : DIRECTIVE.exec(trimmed);
    if (d) {
      directive(lineNo, d[1]!.toLowerCase(), d[2]!.trim());
      continue;
    }
    const m = ENTRY.exec(trimmed);
    if (!m) {
      problems.push({
        file, line: lineNo, field: 'entry',
        expected: '"{weight}transport:nexthop [priority=N]" (e.g. "{3}smtp0:"), "name = value" (algorithm, fallback, match), a "#" comment or a blank line',
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
    let priority = 0;
    let warmup: number[] | undefined;
    let source: string | undefined;
    let syslogName: string | undefined;
    let badAttribute = false;
    for (const attr of (m[3] ?? '').split(/\s+/).filter((a) => a !== '')) {
      const p = /^priority=(\d{1,4})$/.exec(attr);
      if (p) {
        priority = Number(p[1]);
      } else if (attr.startsWith('warmup=')) {
        const text = attr.slice('warmup='.length);
        const caps = parseWarmupAttribute(text);
        if ('expected' in caps) {
          badAttribute = true;
          problems.push({ file, line: lineNo, field: 'warmup', expected: caps.expected, received: describe(text) });
        } else {
          warmup = [...caps];
        }
      } else if (attr.startsWith('syslog_name=')) {
        syslogName = attr.slice('syslog_name='.length);
        if (!/^[A-Za-z0-9._/-]{1,64}$/.test(syslogName)) {
          badAttribute = true;
          problems.push({ file, line: lineNo, field: 'syslog_name', expected: 'the transport\'s master.cf syslog_name (letters, digits, . _ - /)', received: describe(syslogName) });
        }
      } else if (attr.startsWith('source=')) {
        source = attr.slice('source='.length);
        if (isIP(source) === 0) {
          badAttribute = true;
          problems.push({ file, line: lineNo, field: 'source', expected: 'an IPv4 or IPv6 address of this host (the transport\'s smtp_bind_address)', received: describe(source) });
        }
      } else {
        badAttribute = true;
        problems.push({
          file, line: lineNo, field: attr.startsWith('priority=') ? 'priority' : 'attribute',
          expected: `"priority=N" with N from 0 (preferred, the default) to ${MAX_PRIORITY}, "warmup=CAP,CAP,…", "source=ADDRESS" or "syslog_name=NAME"`,
          received: describe(attr),
        });
      }
    }
    if (badAttribute) continue;
    const seen = byValue.get(value);
    if (seen !== undefined) {
      const prev = entries[seen]!;
      if (prev.priority !== priority) {
        problems.push({
          file, line: lineNo, field: 'priority',
          expected: `the priority of line ${prev.line}, where ${value} is listed already (${prev.priority})`,
          received: String(priority),
        });
        continue;
      }
      if (warmup !== undefined && prev.warmup !== undefined && warmup.join() !== prev.warmup.join()) {
        problems.push({ file, line: lineNo, field: 'warmup', expected: `the warm-up schedule of line ${prev.line}, where ${value} is listed already (${prev.warmup.join(',')})`, received: warmup.join(',') });
        continue;
      }
      entries[seen] = { ...prev, weight: Math.min(MAX_WEIGHT, prev.weight + weight), ...(warmup === undefined && prev.warmup === undefined ? {} : { warmup: Object.freeze(warmup ?? prev.warmup!) }) };
      warnings.push({ line: lineNo, message: `duplicate of line ${prev.line} (${value}): weights added` });
      continue;
    }
    byValue.set(value, entries.length);
    entries.push({
      value, weight, priority, line: lineNo,
      ...(warmup === undefined ? {} : { warmup: Object.freeze(warmup) }),
      ...(source === undefined ? {} : { source }),
      ...(syslogName === undefined ? {} : { syslogName }),
    });
  }
  if (problems.length === 0 && entries.length === 0) {
    problems.push({ file, line: 0, field: 'pool', expected: 'at least one "{weight}transport:nexthop" line', received: 'none' });
  }
  if (entries.length > MAX_TRANSPORTS) {
    problems.push({ file, line: 0, field: 'pool', expected: `at most ${MAX_TRANSPORTS} transports`, received: String(entries.length) });
  }
  const warmupConfig = warmupDirectives.result(entries);
  problems.push(...warmupConfig.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const transports = Object.freeze(entries.map((e) => Object.freeze(e)));
  return {
    pool: Object.freeze({
      file,
      transports,
      algorithm: algorithm?.value ?? 'wrr',
      fallback: fallback?.value,
      scope: include.length + exclude.length === 0 ? EVERY_KEY : Object.freeze({ include, exclude }),
      feedback: feedback.result(),
      warmupProviders: warmupConfig.providers,
      memberHashes: Object.freeze(transports.map((t) => hashKey(t.value))),
      fingerprint: fingerprintPool(transports),
    }),
    warnings,
  };
}
