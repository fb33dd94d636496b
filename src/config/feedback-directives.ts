import type { ConfigProblem } from '../errors.js';
import { DEFAULTS } from '../defaults.js';
import type { FeedbackConfig, FeedbackRule } from './types.js';

/**
 * The `feedback_*` directives of postbal.cf: thresholds and durations of
 * postbal feedback, and regex rules checked before the built-in ones.
 *   feedback_down_after = 3          feedback_suspend_after = 3
 *   feedback_hold = 30s              feedback_suspend_window = 10m
 *   feedback_max_hold = 5m           feedback_suspend_ttl = 1h
 *   feedback_ramp = 60s              feedback_rule = throttled /\[TS0\d\]/
 *   feedback_probe_interval = 2s     feedback_probe_rise = 2
 * Durations: a number with s, m, h or d (bare: seconds). Pure.
 */

const COUNTS = { feedback_down_after: 'downAfter', feedback_suspend_after: 'suspendAfter', feedback_probe_rise: 'probeRise' } as const;
const DURATIONS = {
  feedback_hold: 'holdMs', feedback_max_hold: 'maxHoldMs', feedback_ramp: 'rampMs',
  feedback_suspend_window: 'suspendWindowMs', feedback_suspend_ttl: 'suspendTtlMs', feedback_probe_interval: 'probeIntervalMs',
} as const;
export const FEEDBACK_DIRECTIVES = [...Object.keys(COUNTS), ...Object.keys(DURATIONS), 'feedback_rule'];
const VERDICTS = ['connection', 'throttled', 'mailbox'] as const;
const UNIT_MS: Record<string, number> = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A week: longer holds and suspensions are typos, not policy. */
const MAX_DURATION_MS = 7 * 86_400_000;

export class FeedbackDirectives {
  readonly #file: string;
  readonly #values: { -readonly [K in keyof Omit<FeedbackConfig, 'rules'>]: number } = { ...DEFAULTS.feedback };
  readonly #rules: FeedbackRule[] = [];

  constructor(file: string) {
    this.#file = file;
  }

  /** @returns the problem with this line, if any */
  set(name: string, value: string, line: number): ConfigProblem | undefined {
    const problem = (expected: string): ConfigProblem => ({ file: this.#file, line, field: name, expected, received: JSON.stringify(value) });
    if (Object.hasOwn(COUNTS, name)) {
      const n = /^\d{1,3}$/.test(value) ? Number(value) : 0;
      if (n < 1 || n > 100) return problem('a whole number from 1 to 100');
      this.#values[COUNTS[name as keyof typeof COUNTS]] = n;
      return undefined;
    }
    if (Object.hasOwn(DURATIONS, name)) {
      const m = /^(\d{1,7})\s*([smhd]?)$/.exec(value);
      const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : 0;
      if (ms < 1000 || ms > MAX_DURATION_MS) return problem('a duration from 1s to 7d, e.g. 30s, 10m, 1h');
      this.#values[DURATIONS[name as keyof typeof DURATIONS]] = ms;
      return undefined;
    }
    if (name === 'feedback_rule') {
      const r = /^(\w+)\s+\/(.+)\/(i?)$/.exec(value);
      const verdict = r?.[1] as FeedbackRule['verdict'] | undefined;
      if (!r || !VERDICTS.includes(verdict!)) return problem(`"${VERDICTS.join('|')} /regex/" with an optional i after the regex`);
      try {
        this.#rules.push({ regex: new RegExp(r[2]!, r[3]), verdict: verdict!, line });
      } catch (err) {
        return problem(`a valid regular expression (${(err as Error).message})`);
      }
      return undefined;
    }
    return problem(FEEDBACK_DIRECTIVES.join(', '));
  }

  result(): FeedbackConfig {
    return Object.freeze({ ...this.#values, rules: Object.freeze([...this.#rules]) });
  }
}
