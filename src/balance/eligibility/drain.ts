import type { EligibilityRule } from '../types.js';

/** Flag bit in the state: taken out of rotation by `postbal drain`. */
export const DRAINED = 1;

export function isDrained(flags: number): boolean {
  return (flags & DRAINED) !== 0;
}

/** A drained member answers nothing until `postbal undrain`. A manual drain always wins. */
export const drainRule: EligibilityRule = {
  name: 'drained',
  automatic: false,
  factor: (_member, facts) => (isDrained(facts.flags) ? 0 : 1),
};
