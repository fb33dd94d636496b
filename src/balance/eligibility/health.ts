import type { EligibilityRule } from '../types.js';

/**
 * Transport health from postbal feedback. A transport down takes no new
 * answers until its retry time; from then a trial share (TRIAL_FACTOR of its
 * weight) goes through, so the next deliveries show whether it is back. Once
 * feedback sees it deliver, its weight ramps from TRIAL_FACTOR to full over
 * RAMP_MS (haproxy's slowstart) instead of taking a full share at once.
 */

/** How long a transport back up takes to reach its full weight. */
export const RAMP_MS = 60_000;
/** The share of its weight a transport gets on trial or at the start of its ramp. */
export const TRIAL_FACTOR = 0.1;

/** The factor for a transport's health at `nowMs`; 1 when nothing is known. */
export function healthFactor(down: boolean, sinceMs: number, retryAtMs: number, nowMs: number): number {
  if (down) return nowMs >= retryAtMs ? TRIAL_FACTOR : 0;
  if (sinceMs <= 0 || nowMs >= sinceMs + RAMP_MS) return 1;
  return Math.max(TRIAL_FACTOR, (nowMs - sinceMs) / RAMP_MS);
}

export const healthRule: EligibilityRule = {
  name: 'down',
  automatic: true,
  factor: (_member, facts, nowMs) => (facts.health ? healthFactor(facts.health.down, facts.health.sinceMs, facts.health.retryAtMs, nowMs) : 1),
};
