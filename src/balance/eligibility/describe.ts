import type { PoolConfig } from '../../config/types.js';
import type { Eligible } from '../types.js';

/**
 * One sentence on where picks come from now, for log lines and the control
 * commands' output, e.g. `picking from priority 0: smtp0: smtp2:`.
 */
export function describeEligible(pool: PoolConfig, eligible: Eligible): string {
  if (eligible.priority === undefined) {
    return `no transport is available: lookups answer ${pool.fallback === undefined ? '"not found" (Postfix uses its next table or default transport)' : `the fallback ${pool.fallback}`}`;
  }
  return `picking from priority ${eligible.priority}: ${pool.transports.filter((_, i) => eligible.members[i]).map((t) => t.value).join(' ')}`;
}

/** The members some rule excludes, by reason: `drained: smtp1: smtp2:`, or `none excluded`. */
export function describeExcluded(pool: PoolConfig, eligible: Eligible): string {
  const byReason = new Map<string, string[]>();
  eligible.excludedBy.forEach((reason, i) => {
    if (reason !== undefined) byReason.set(reason, [...(byReason.get(reason) ?? []), pool.transports[i]!.value]);
  });
  if (byReason.size === 0) return 'none excluded';
  return [...byReason].map(([reason, values]) => `${reason}: ${values.join(' ')}`).join('; ');
}
