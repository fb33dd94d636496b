import type { Algorithm } from '../types.js';

/**
 * Weighted random (what Postfix's randmap does, with weights instead of
 * repeated entries).
 * @param u a uniform random number in [0, 1)
 * @returns the index picked, or -1 when no member is eligible
 */
export function pickWeightedRandom(weights: readonly number[], eligible: readonly boolean[], u: number): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) if (eligible[i]) total += weights[i]!;
  if (total === 0) return -1;
  let r = u * total;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (!eligible[i]) continue;
    last = i;
    r -= weights[i]!;
    if (r < 0) return i;
  }
  // Rounding left r at exactly 0: the last eligible member.
  return last;
}

/** Weighted random among the eligible members: no shared position, only the weights. */
export const random: Algorithm = {
  name: 'random',
  keyHash: () => 0,
  pick: (eligible, input) => pickWeightedRandom(eligible.weights, eligible.members, input.random()),
  describe: () => 'weighted random: each new key draws a transport of the active tier with probability weight / total',
};
