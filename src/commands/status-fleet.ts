import type { PoolConfig } from '../config/types.js';
import { fleetStatusPath, readFleetStatus } from '../fleet/status-file.js';
import { fleetHost } from './fleet.js';
import { printable } from '../log/format.js';

/** What `postbal status` shows of the fleet: the store as this host's agent sees it, the hosts it saw, the leases it holds. */
export interface FleetReport {
  readonly name: string;
  readonly url: string;
  readonly host: string;
  /** up, lost, or no agent (its status file absent or stale). */
  readonly store: 'up' | 'lost' | 'no agent';
  readonly since: string | null;
  readonly lastSync: string | null;
  readonly error?: string;
  readonly hosts: readonly { readonly host: string; readonly version: string; readonly seen: string }[];
  readonly leases: readonly { readonly name: string; readonly kind: string; readonly lease: number; readonly fleetCount: number; readonly fleetReserved: number }[];
}

/** An agent that wrote nothing for this long is not running. */
const STALE_MS = 5000;

export function fleetReport(pool: PoolConfig | undefined, statePath: string, nowMs: number): FleetReport | undefined {
  const fleet = pool?.fleet;
  if (!fleet) return undefined;
  const s = readFleetStatus(fleetStatusPath(statePath));
  const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);
  const running = s !== undefined && nowMs - s.writtenMs < STALE_MS;
  return {
    name: fleet.name, url: fleet.url, host: fleetHost(fleet),
    store: !running ? 'no agent' : s.store.up ? 'up' : 'lost',
    since: s ? iso(s.store.sinceMs) : null,
    lastSync: s ? iso(s.lastSyncMs) : null,
    ...(s?.store.error ? { error: s.store.error } : {}),
    hosts: (s?.hosts ?? []).slice(0, 64).map((h) => ({ host: h.host, version: h.version, seen: iso(h.seenMs) ?? '-' })),
    leases: (s?.leases ?? []).slice(0, 64).map((l) => ({ name: l.name, kind: l.kind, lease: l.lease, fleetCount: l.fleetCount, fleetReserved: l.fleetReserved })),
  };
}

export function printFleet(f: FleetReport, out: (s: string) => void): void {
  const store = f.store === 'no agent'
    ? 'NO AGENT (postbal fleet is not running: drains and feedback are not shared, capped and rated transports get nothing new)'
    : f.store === 'up' ? `store up, last sync ${f.lastSync ?? '-'}` : `STORE LOST since ${f.since ?? '-'} (${printable(f.error ?? '')}); serving from what this host knew`;
  out(`\nfleet ${f.name} at ${f.url}: ${store}\n  this host: ${f.host}\n`);
  for (const h of f.hosts) out(`  host ${h.host.padEnd(20)} postbal ${h.version.padEnd(10)} seen ${h.seen}\n`);
  for (const l of f.leases) out(`  lease ${l.name} (${l.kind}): ${l.lease} left here${l.kind === 'warmup' ? `; fleet today ${l.fleetCount} sent, ${l.fleetReserved} leased` : ''}\n`);
}
