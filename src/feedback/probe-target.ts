import type { TransportEntry } from '../config/types.js';
import { serviceOf, nexthopOf } from '../config/service-name.js';

/** Where a probe of a transport connects: its fixed next hop, from its source address. */
export interface ProbeTarget {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly localAddress: string | undefined;
}

/**
 * The fixed next hop of an entry, as Postfix reads it: `smtp1:[relay.example]:25`
 * or `smtp1:[192.0.2.7]` (port 25). Without brackets the next hop is looked up
 * in DNS (MX) at delivery, and an entry without one goes to the recipient's
 * domain: there is no single host to probe, so undefined. Pure.
 */
export function probeTargetOf(entry: TransportEntry): ProbeTarget | undefined {
  const nexthop = nexthopOf(entry.value);
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(nexthop);
  if (!m) return undefined;
  const port = m[2] === undefined ? 25 : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { service: serviceOf(entry.value), host: m[1]!, port, localAddress: entry.source };
}

/**
 * The services every entry of which names a next hop (`smtp1:[relay]:25`,
 * `smtp1:relay.example`): their connection failures are their own. An entry
 * without one delivers to each recipient's MX, whose failures are the
 * destination's. Pure.
 */
export function servicesWithFixedNextHop(entries: readonly TransportEntry[]): Set<string> {
  const fixed = new Set<string>();
  const open = new Set<string>();
  for (const e of entries) {
    (nexthopOf(e.value) !== '' ? fixed : open).add(serviceOf(e.value));
  }
  for (const s of open) fixed.delete(s);
  return fixed;
}
