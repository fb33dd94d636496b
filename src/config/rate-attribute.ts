import type { RateLimit } from './types.js';

/**
 * `rate=N/PERIOD` on a pool entry: a relay account's or a provider's quota,
 * e.g. `rate=14/s`, `rate=600/min`, `rate=50000/d`. Pure.
 */

const PERIODS: Readonly<Record<string, number>> = { s: 1_000, sec: 1_000, m: 60_000, min: 60_000, h: 3_600_000, hour: 3_600_000, d: 86_400_000, day: 86_400_000 };
export const MAX_RATE_COUNT = 1_000_000_000;

export function parseRateAttribute(text: string): RateLimit | { readonly expected: string } {
  const m = /^(\d{1,10})\/(\d{0,6})([a-z]+)$/.exec(text);
  const count = m ? Number(m[1]) : NaN;
  const unit = m ? PERIODS[m[3]!] : undefined;
  const times = m && m[2] !== '' ? Number(m[2]) : 1;
  if (!m || unit === undefined || !(count >= 1 && count <= MAX_RATE_COUNT) || !(times >= 1)) {
    return { expected: `N/PERIOD with N from 1 to ${MAX_RATE_COUNT} and PERIOD s, min, h or d, optionally with a number (e.g. rate=14/s, rate=500/10min, rate=50000/d)` };
  }
  return Object.freeze({ count, periodMs: unit * times, text });
}
