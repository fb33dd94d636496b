import { stickyKeyOf } from '../../keys/domain.js';
import { hashHi, hashKey, hashLo } from '../../keys/hash.js';
import type { Algorithm } from '../types.js';

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A uniform number in (0, 1) for a (key, member) pair, 53 bits from two
 * independent mixes of both hashes.
 */
function pairUniform(keyHash: number, memberHash: number): number {
  const kh = hashHi(keyHash);
  const kl = hashLo(keyHash);
  const mh = hashHi(memberHash);
  const ml = hashLo(memberHash);
  const a = fmix32((kl ^ Math.imul(ml, 0x9e3779b1)) + kh);
  const b = fmix32((kh ^ Math.imul(mh ^ ml, 0x7feb352d)) + a + kl);
  return ((a >>> 5) * 67108864 + (b >>> 6) + 0.5) / 9007199254740992;
}

/**
 * Weighted rendezvous hashing (highest random weight): each member scores
 * weight / -ln(u) for a u drawn from the (key, member) pair, and the best
 * score wins. The same key always gets the same member while the eligible
 * set is unchanged; across many keys the shares follow the weights; taking
 * one member out moves only the keys it had.
 * @param keyHash hashKey() of the sticky key (the domain)
 * @param memberHashes hashKey() of each member's value
 * @returns the index picked, or -1 when no member is eligible
 */
export function pickRendezvous(
  weights: readonly number[],
  eligible: readonly boolean[],
  keyHash: number,
  memberHashes: readonly number[],
): number {
  let best = -1;
  let bestScore = -Infinity;
  for (let i = 0; i < weights.length; i++) {
    if (!eligible[i]) continue;
    const score = weights[i]! / -Math.log(pairUniform(keyHash, memberHashes[i]!));
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}

/** The same domain gets the same member while the eligible set is unchanged. */
export const sticky: Algorithm = {
  name: 'sticky',
  keyHash: (key) => hashKey(stickyKeyOf(key)),
  pick: (eligible, input) => pickRendezvous(eligible.weights, eligible.members, input.keyHash, input.memberHashes),
  describe: () => 'sticky: each domain always gets the same transport of the active tier (weighted rendezvous hashing)',
};
