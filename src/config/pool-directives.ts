import type { ConfigProblem } from '../errors.js';
import { tcpTableReplyBytes } from '../protocol/tcp-table.js';
import { TCP_TABLE_MAX_REPLY_BYTES } from '../protocol/limits.js';
import { describeValue, TRANSPORT } from './entry-line.js';
import { FEEDBACK_DIRECTIVES, FeedbackDirectives } from './feedback-directives.js';
import { compileScopeRule } from './scope.js';
import type { Algorithm, ScopeRule } from './types.js';
import { WarmupDirectives } from './warmup-directives.js';
import { FLEET_DIRECTIVES, FleetDirectives } from './fleet-directives.js';

/**
 * postbal.cf's `name = value` lines, one handler per directive (a table, so
 * a new directive is one more row): `algorithm`, `fallback`, `match`,
 * `warmup_provider`, the `fleet*` family (fleet-directives.ts) and the
 * `feedback_*` family (feedback-directives.ts).
 * Every problem names file, line, field, expected and received. Pure.
 */

/** The algorithm names `algorithm =` and `--algorithm` accept (balance/algorithms/). */
export const ALGORITHMS: readonly Algorithm[] = ['wrr', 'random', 'sticky'];

/** What the directives of one file set. */
export class PoolDirectives {
  readonly file: string;
  algorithm: { value: Algorithm; line: number } | undefined;
  fallback: { value: string | undefined; line: number } | undefined;
  readonly include: ScopeRule[] = [];
  readonly exclude: ScopeRule[] = [];
  readonly feedback: FeedbackDirectives;
  readonly warmup: WarmupDirectives;
  readonly fleet: FleetDirectives;

  constructor(file: string) {
    this.file = file;
    this.fleet = new FleetDirectives(file);
    this.feedback = new FeedbackDirectives(file);
    this.warmup = new WarmupDirectives(file);
  }

  /** One directive line. @returns its problems (none when it was taken) */
  set(name: string, value: string, line: number): ConfigProblem[] {
    // Own keys only: a line "constructor = x" names no directive (it was exit 70, an internal error).
    const handler = Object.hasOwn(HANDLERS, name) ? HANDLERS[name] : undefined;
    if (handler) return handler(this, value, { file: this.file, line, field: name });
    if (FleetDirectives.handles(name)) return this.fleet.set(name, value, line);
    if (name.startsWith('feedback_')) {
      const problem = this.feedback.set(name, value, line);
      return problem ? [problem] : [];
    }
    return [{ file: this.file, line, field: 'directive', expected: [...Object.keys(HANDLERS), ...FLEET_DIRECTIVES, ...FEEDBACK_DIRECTIVES].join(', '), received: describeValue(name) }];
  }
}

type Where = { readonly file: string; readonly line: number; readonly field: string };
type Handler = (d: PoolDirectives, value: string, where: Where) => ConfigProblem[];

/** A directive that may appear once: the problem with a second one, or none. */
function second(where: Where, prev: { line: number } | undefined): ConfigProblem[] {
  return prev === undefined ? [] : [{ ...where, expected: `one "${where.field}" line (line ${prev.line} has one already)`, received: 'a second one' }];
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  algorithm(d, value, where) {
    const again = second(where, d.algorithm);
    if (again.length > 0) return again;
    const a = value.toLowerCase() as Algorithm;
    if (!ALGORITHMS.includes(a)) return [{ ...where, expected: ALGORITHMS.join(', '), received: describeValue(value) }];
    d.algorithm = { value: a, line: where.line };
    return [];
  },
  fallback(d, value, where) {
    const again = second(where, d.fallback);
    if (again.length > 0) return again;
    if (value === 'none') {
      d.fallback = { value: undefined, line: where.line };
      return [];
    }
    if (!TRANSPORT.test(value)) {
      return [{ ...where, expected: '"none" or a transport:nexthop answered when no transport is available (e.g. "retry:4.3.2 no source IP available" or "smtp:")', received: describeValue(value) }];
    }
    if (tcpTableReplyBytes(value) > TCP_TABLE_MAX_REPLY_BYTES) {
      return [{ ...where, expected: `a reply of at most ${TCP_TABLE_MAX_REPLY_BYTES} bytes`, received: `${tcpTableReplyBytes(value)} bytes` }];
    }
    d.fallback = { value, line: where.line };
    return [];
  },
  match(d, value, where) {
    const patterns = value.split(/\s+/).map((p) => (p.startsWith('/') ? p : p.replace(/,$/, ''))).filter((p) => p !== '');
    if (patterns.length === 0) return [{ ...where, expected: 'one or more patterns', received: 'none' }];
    const problems: ConfigProblem[] = [];
    for (const written of patterns) {
      const negated = written.startsWith('!');
      const rule = compileScopeRule(negated ? written.slice(1) : written);
      if (typeof rule === 'string') problems.push({ ...where, expected: rule, received: describeValue(written) });
      else (negated ? d.exclude : d.include).push(rule);
    }
    return problems;
  },
  warmup_provider: (d, value, where) => d.warmup.provider(value, where.line),
};
