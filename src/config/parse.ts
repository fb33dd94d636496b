import { ConfigError, type ConfigProblem } from '../errors.js';
import { MAX_TRANSPORTS } from './limits.js';
import { fingerprintPool, hashKey } from '../keys/hash.js';
import { EVERY_KEY } from './scope.js';
import { describeValue, ENTRY, MAX_WEIGHT, parseEntryLine, type EntryLine } from './entry-line.js';
import { PoolDirectives } from './pool-directives.js';
import { configLines, directiveOf } from './lines.js';
import type { ConfigWarning, PoolConfig, TransportEntry } from './types.js';

export { ALGORITHMS } from './pool-directives.js';
export { MAX_PRIORITY, MAX_WEIGHT } from './entry-line.js';

/**
 * The postbal.pl format: one `{weight}transport:nexthop` per line, `#` comments,
 * blank lines (config/entry-line.ts). Extensions, all of which postbal.pl
 * rejected, so an old file keeps its meaning: attributes after an entry, and
 * `name = value` directive lines (config/pool-directives.ts).
 */
export interface ParsedConfig {
  readonly pool: PoolConfig;
  readonly warnings: readonly ConfigWarning[];
}

/**
 * Adds one entry line's entry, merging a duplicate into the first (weights
 * added, with a warning; priority and warm-up schedule must agree).
 */
function addEntry(entries: TransportEntry[], byValue: Map<string, number>, e: EntryLine, line: number, file: string, problems: ConfigProblem[], warnings: ConfigWarning[]): void {
  const seen = byValue.get(e.value);
  if (seen === undefined) {
    byValue.set(e.value, entries.length);
    entries.push({ ...e, line });
    return;
  }
  const prev = entries[seen]!;
  if (prev.priority !== e.priority) {
    problems.push({ file, line, field: 'priority', expected: `the priority of line ${prev.line}, where ${e.value} is listed already (${prev.priority})`, received: String(e.priority) });
    return;
  }
  if (e.warmup !== undefined && prev.warmup !== undefined && e.warmup.join() !== prev.warmup.join()) {
    problems.push({ file, line, field: 'warmup', expected: `the warm-up schedule of line ${prev.line}, where ${e.value} is listed already (${prev.warmup.join(',')})`, received: e.warmup.join(',') });
    return;
  }
  const warmup = e.warmup ?? prev.warmup;
  entries[seen] = { ...prev, weight: Math.min(MAX_WEIGHT, prev.weight + e.weight), ...(warmup === undefined ? {} : { warmup }) };
  warnings.push({ line, message: `duplicate of line ${prev.line} (${e.value}): weights added` });
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
  const directives = new PoolDirectives(file);
  for (const { line, text: trimmed } of configLines(text)) {
    const d = trimmed.startsWith('{') ? undefined : directiveOf(trimmed);
    if (d) {
      problems.push(...directives.set(d.name.toLowerCase(), d.value, line));
      continue;
    }
    const m = ENTRY.exec(trimmed);
    if (!m) {
      problems.push({
        file, line, field: 'entry',
        expected: '"{weight}transport:nexthop [priority=N]" (e.g. "{3}smtp0:"), "name = value" (algorithm, fallback, match), a "#" comment or a blank line',
        received: describeValue(trimmed),
      });
      continue;
    }
    const entry = parseEntryLine(m, { file, line }, problems);
    if (entry) addEntry(entries, byValue, entry, line, file, problems, warnings);
  }
  if (problems.length === 0 && entries.length === 0) {
    problems.push({ file, line: 0, field: 'pool', expected: 'at least one "{weight}transport:nexthop" line', received: 'none' });
  }
  if (entries.length > MAX_TRANSPORTS) {
    problems.push({ file, line: 0, field: 'pool', expected: `at most ${MAX_TRANSPORTS} transports`, received: String(entries.length) });
  }
  const warmupConfig = directives.warmup.result(entries);
  problems.push(...warmupConfig.problems);
  const fleetConfig = directives.fleet.result();
  problems.push(...fleetConfig.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const transports = Object.freeze(entries.map((e) => Object.freeze(e)));
  const { include, exclude } = directives;
  return {
    pool: Object.freeze({
      file,
      transports,
      algorithm: directives.algorithm?.value ?? 'wrr',
      fallback: directives.fallback?.value,
      scope: include.length + exclude.length === 0 ? EVERY_KEY : Object.freeze({ include, exclude }),
      feedback: directives.feedback.result(),
      warmupProviders: warmupConfig.providers,
      ...(fleetConfig.fleet ? { fleet: fleetConfig.fleet } : {}),
      memberHashes: Object.freeze(transports.map((t) => hashKey(t.value))),
      fingerprint: fingerprintPool(transports),
    }),
    warnings,
  };
}
