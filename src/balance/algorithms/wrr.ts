import type { Algorithm } from '../types.js';

/**
 * Smooth weighted round robin, the algorithm of nginx
 * (ngx_http_upstream_get_peer): every pick adds each member's weight to its
 * running score, takes the highest score (config order breaks ties) and
 * subtracts the total from the winner. With 3:2:1 the picks interleave as
 * a b a c b a, never a a a b b c, and any run of picks deviates from the exact
 * shares by less than one pick per member.
 *
 * Pure: the running scores are passed in and updated in place.
 */

/**
 * Picks one member.
 * @param weights configured weights, all > 0
 * @param current running scores, same length; updated in place
 * @param eligible members that may be picked (all when omitted)
 * @returns the index picked, or -1 when no member is eligible
 */
export function pickSmoothWrr(
  weights: readonly number[],
  current: number[],
  eligible?: (index: number) => boolean,
): number {
  let total = 0;
  let best = -1;
  for (let i = 0; i < weights.length; i++) {
    if (eligible && !eligible(i)) continue;
    const w = weights[i]!;
    current[i] = current[i]! + w;
    total += w;
    if (best < 0 || current[i]! > current[best]!) best = i;
  }
  if (best >= 0) current[best] = current[best]! - total;
  return best;
}

/** The first `count` picks from a fresh start, for `postbal check`. */
export function previewSmoothWrr(weights: readonly number[], count: number): number[] {
  const current = weights.map(() => 0);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(pickSmoothWrr(weights, current));
  return out;
}

/** Smooth weighted round robin among the eligible members, positions shared through `current`. */
export const wrr: Algorithm = {
  name: 'wrr',
  keyHash: () => 0,
  pick: (eligible, input) => pickSmoothWrr(eligible.weights, input.current, (i) => eligible.members[i] === true),
  preview: previewSmoothWrr,
  describe: () => 'smooth weighted round robin: each new key takes the next position of a sequence shared by every instance',
};
