import { closeSync, fstatSync, openSync, readSync, constants } from 'node:fs';
import { writeFileAtomicSync } from '../state/atomic-write.js';
import type { FactRecord } from './reconcile.js';
import type { HostSeen } from './store.js';

/**
 * `STATE.fleet`: what the fleet agent agreed with the store (so a restarted
 * agent knows which local facts are its own decisions) and what `postbal
 * status` shows of the fleet. Written whole and renamed; read with a bound
 * on its size and only when the state file's owner (or root) wrote it.
 */

export interface LeaseShown {
  readonly name: string;
  readonly kind: 'warmup' | 'rate';
  /** What this host may still give. */
  readonly lease: number;
  /** Warm-up: the fleet's count today and what it reserved (leases granted). */
  readonly fleetCount: number;
  readonly fleetReserved: number;
  readonly stage: number;
}

export interface FleetStatus {
  readonly host: string;
  readonly version: string;
  readonly pid: number;
  readonly writtenMs: number;
  readonly lastSyncMs: number;
  readonly store: { readonly up: boolean; readonly sinceMs: number; readonly error?: string };
  readonly epoch: string | undefined;
  readonly synced: readonly (readonly [string, FactRecord])[];
  readonly hosts: readonly HostSeen[];
  readonly leases: readonly LeaseShown[];
}

const MAX_BYTES = 2 << 20;

export function fleetStatusPath(statePath: string): string {
  return `${statePath}.fleet`;
}

export function writeFleetStatus(path: string, status: FleetStatus): void {
  writeFileAtomicSync(path, Buffer.from(JSON.stringify(status)), 0o644);
}

/** The status file, or undefined when absent, too big, written by someone else or not ours. */
export function readFleetStatus(path: string, ownerUid?: number): FleetStatus | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const euid = process.geteuid?.() ?? 0;
    if (!st.isFile() || st.size > MAX_BYTES || (st.uid !== 0 && st.uid !== euid && st.uid !== ownerUid)) return undefined;
    const buf = Buffer.alloc(st.size);
    const n = readSync(fd, buf, 0, st.size, 0);
    const s = JSON.parse(buf.subarray(0, n).toString('utf8')) as FleetStatus;
    return valid(s) ? s : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function valid(s: FleetStatus): boolean {
  return typeof s === 'object' && s !== null && typeof s.host === 'string' && typeof s.version === 'string' && Number.isFinite(s.writtenMs)
    && typeof s.store === 'object' && s.store !== null && typeof s.store.up === 'boolean' && Array.isArray(s.synced) && Array.isArray(s.hosts) && Array.isArray(s.leases)
    && s.synced.every((e: unknown) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string') return false;
      const r = e[1] as Partial<FactRecord> | null;
      return typeof r === 'object' && r !== null && Number.isFinite(r.at) && typeof r.host === 'string' && (r.v === null || typeof r.v === 'string');
    });
}
