import type { EligibilityRule } from '../types.js';
import type { Suspension } from '../../state/types.js';

/**
 * A transport suspended for a destination answers no key of that
 * destination until the suspension ends; other destinations keep it.
 */
export const suspensionRule: EligibilityRule = {
  name: 'suspended',
  automatic: true,
  factor: (_member, facts) => (facts.suspended ? 0 : 1),
};

/**
 * Does `s` apply to a key of `domain` at `nowMs`? Its destination is a
 * provider (`yahoo.com`) or a domain; the key's domain matches it, or is a
 * subdomain of it.
 */
export function suspensionApplies(s: Suspension, domain: string, nowMs: number): boolean {
  if (s.untilMs <= nowMs) return false;
  return domain === s.destination || domain.endsWith(`.${s.destination}`);
}
