import type { ConfigProblem } from '../errors.js';
import { MAX_STAGES, MAX_WARMUP_RECORDS } from './limits.js';
import type { TransportEntry } from './types.js';

/**
 * Warm-up in postbal.cf: the `warmup=CAP,CAP,…` attribute of an entry and
 * `warmup_provider = DOMAIN DOMAIN …` lines, each a group of domains one
 * mailbox provider hosts (it judges an IP for all of them at once), whose
 * mail a warming transport counts apart from the rest. Pure.
 */

export const MAX_PROVIDERS = 8;
const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Parses the value of `warmup=`. @returns the caps, or what was expected */
export function parseWarmupAttribute(text: string): readonly number[] | { readonly expected: string } {
  const caps = text.split(',').map((x) => (/^\d{1,9}$/.test(x) ? Number(x) : NaN));
  if (caps.length > MAX_STAGES || caps.some((c) => !(c >= 1))) {
    return { expected: `day caps of stage 1, 2, … as whole numbers from 1 to 999999999, comma-separated, at most ${MAX_STAGES} (e.g. warmup=200,500,1000,2000)` };
  }
  return Object.freeze(caps);
}

export class WarmupDirectives {
  readonly #file: string;
  readonly #groups: (readonly string[])[] = [];
  readonly #seen = new Map<string, number>();

  constructor(file: string) {
    this.#file = file;
  }

  /** A `warmup_provider` line. @returns its problems */
  provider(value: string, line: number): ConfigProblem[] {
    const domains = value.toLowerCase().split(/[\s,]+/).filter((d) => d !== '').map((d) => d.replace(/\.$/, ''));
    const problem = (expected: string, received: string): ConfigProblem => ({ file: this.#file, line, field: 'warmup_provider', expected, received });
    if (domains.length === 0) return [problem('one or more domains of one provider (e.g. "gmail.com googlemail.com")', 'none')];
    const problems = domains.filter((d) => !DOMAIN.test(d)).map((d) => problem('a domain name such as gmail.com', JSON.stringify(d)));
    for (const d of domains) {
      const before = this.#seen.get(d);
      if (before !== undefined) problems.push(problem(`each domain in one provider (line ${before} lists ${d} already)`, JSON.stringify(d)));
      this.#seen.set(d, line);
    }
    if (this.#groups.length >= MAX_PROVIDERS) problems.push(problem(`at most ${MAX_PROVIDERS} warmup_provider lines`, `line ${line} is one more`));
    if (problems.length === 0) this.#groups.push(Object.freeze(domains));
    return problems;
  }

  /** The provider groups, and the problem when the pool's warm-up records would not fit the state. */
  result(entries: readonly TransportEntry[]): { providers: readonly (readonly string[])[]; problems: ConfigProblem[] } {
    const warming = entries.filter((e) => e.warmup !== undefined);
    const records = warming.length * (this.#groups.length + 1);
    const problems: ConfigProblem[] = records > MAX_WARMUP_RECORDS
      ? [{ file: this.#file, line: warming[0]!.line, field: 'warmup', expected: `at most ${MAX_WARMUP_RECORDS} warm-up counts: warming transports x (warmup_provider lines + 1)`, received: `${warming.length} x ${this.#groups.length + 1} = ${records}` }]
      : [];
    return { providers: Object.freeze([...this.#groups]), problems };
  }
}
