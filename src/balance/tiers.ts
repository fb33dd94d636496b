/**
 * Priority tiers and drain marks. Pure.
 *
 * Picks come only from the best (lowest-numbered) tier that has a member not
 * drained; inside it the algorithm and weights apply. So draining the last
 * member of a tier moves its traffic to the next tier, and undraining it
 * moves it back, with no other configuration.
 */

/** Flag bit in the state: taken out of rotation by `postbal drain`. */
export const DRAINED = 1;

export function isDrained(flags: number): boolean {
  return (flags & DRAINED) !== 0;
}

/**
 * Which members may be picked now.
 * @returns one boolean per member, and the tier's priority; undefined when every member is drained
 */
export function activeTier(
  priorities: readonly number[],
  flags: readonly number[],
): { readonly priority: number; readonly members: readonly boolean[] } | undefined {
  let best = Infinity;
  for (let i = 0; i < priorities.length; i++) {
    if (!isDrained(flags[i] ?? 0) && priorities[i]! < best) best = priorities[i]!;
  }
  if (best === Infinity) return undefined;
  return { priority: best, members: priorities.map((p, i) => p === best && !isDrained(flags[i] ?? 0)) };
}
