import type { EligibilityRule } from '../types.js';
import type { TransportHealth } from '../types.js';

/**
 * Transport health from postbal feedback. A transport down takes no new
 * answers until its retry time; from then a trial share (TRIAL_FACTOR of its
 * weight) goes through, so the next deliveries show whether it is back. Once
 * feedback sees it deliver, its weight ramps from TRIAL_FACTOR to full over
 * its ramp time (feedback_ramp, haproxy's slowstart) instead of taking a full
 * share at once.
 */

/** The share of its weight a transport gets on trial or at the start of its ramp. */
export const TRIAL_FACTOR = 0.1;

/** The factor for a transport's health at `nowMs`; 1 when nothing is known. */
export function healthFactor(h: TransportHealth, nowMs: number): number {
  if (h.down) return nowMs >= h.retryAtMs ? TRIAL_FACTOR : 0;
  if (h.sinceMs <= 0 || h.rampMs <= 0 || nowMs >= h.sinceMs + h.rampMs) return 1;
  return Math.max(TRIAL_FACTOR, (nowMs - h.sinceMs) / h.rampMs);
}

export const healthRule: EligibilityRule = {
  name: 'down',
  automatic: true,
  factor: (_member, facts, nowMs) => (facts.health ? healthFactor(facts.health, nowMs) : 1),
};
