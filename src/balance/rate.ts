/**
 * Rate limits by GCRA (the generic cell rate algorithm, as KumoMTA's and
 * redis-cell's throttles): `count` answers per `periodMs`, at most `count`
 * at once after a quiet period, then one every periodMs / count. The whole
 * state is one time, the theoretical arrival time (TAT). Pure.
 */

/** Slack for the fractional intervals of rates such as 14/s. */
const EPSILON_MS = 1e-6;

export interface Rate {
  readonly count: number;
  readonly periodMs: number;
}

export function intervalMs(rate: Rate): number {
  return rate.periodMs / rate.count;
}

/** May one more answer be given at `nowMs`, with the TAT `tat`? */
export function rateAllows(rate: Rate, tat: number, nowMs: number): boolean {
  return Math.max(tat, nowMs) + intervalMs(rate) - nowMs <= rate.periodMs + EPSILON_MS;
}

/** The TAT after `n` answers at `nowMs`. */
export function rateTake(rate: Rate, tat: number, nowMs: number, n = 1): number {
  return Math.max(tat, nowMs) + n * intervalMs(rate);
}

/** How many answers the rate allows at once at `nowMs` (a lease's size at most). */
export function rateAvailable(rate: Rate, tat: number, nowMs: number): number {
  const room = nowMs + rate.periodMs - Math.max(tat, nowMs);
  return Math.max(0, Math.floor((room + EPSILON_MS) / intervalMs(rate)));
}
