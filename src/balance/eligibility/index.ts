import type { Eligible, EligibilityRule, MemberFacts } from '../types.js';
import { drainRule } from './drain.js';
import { healthRule } from './health.js';
import { suspensionRule } from './suspension.js';
import { warmupRule } from './warmup.js';
import { rateRule } from './rate.js';

/**
 * "May member T answer now, and at which weight": the rules in force, then
 * the best tier among the members they leave. Pure.
 *
 * Picks come only from the best (lowest-numbered) tier that has an eligible
 * member; inside it the algorithm and weights apply. So taking the last
 * member of a tier out moves its traffic to the next tier, and putting it
 * back moves it back, with no other configuration.
 */

/**
 * Every reason a member may be skipped, in the order they are asked. The
 * counting rules (warm-up cap, rate) come last: a member one of them alone
 * excludes is named by it, so a remembered answer (the same recipient's second lookup) can still stand.
 */
export const RULES: readonly EligibilityRule[] = [drainRule, healthRule, suspensionRule, warmupRule, rateRule];
/** The rules an administrator set; what is left when the automatic ones would leave nothing. */
export const MANUAL_RULES: readonly EligibilityRule[] = RULES.filter((r) => !r.automatic);

/**
 * @param weights configured weights, one per member
 * @param priorities tiers, one per member (lower is preferred)
 * @param facts what the shared state says of each member
 */
export function eligibleMembers(
  weights: readonly number[],
  priorities: readonly number[],
  facts: readonly MemberFacts[],
  rules: readonly EligibilityRule[] = RULES,
  nowMs = 0,
): Eligible {
  const n = weights.length;
  const effective = new Array<number>(n);
  const excludedBy = new Array<string | undefined>(n).fill(undefined);
  let best = Infinity;
  for (let i = 0; i < n; i++) {
    let factor = 1;
    for (const rule of rules) {
      factor *= rule.factor(i, facts[i] ?? { flags: 0 }, nowMs);
      if (factor <= 0) {
        excludedBy[i] = rule.name;
        break;
      }
    }
    effective[i] = factor > 0 ? weights[i]! * factor : 0;
    if (effective[i]! > 0 && priorities[i]! < best) best = priorities[i]!;
  }
  const priority = best === Infinity ? undefined : best;
  const members = priorities.map((p, i) => p === priority && effective[i]! > 0);
  return { priority, members, weights: effective, excludedBy };
}
