import { endedByItself, type Facts } from './facts.js';

/**
 * How one host and the fleet's store agree on the shared facts (drains,
 * health, suspensions): last writer wins, field by field. Pure.
 *
 * The host remembers each fact as it last agreed with the store (`synced`).
 * A local value that differs from it is a decision taken here (a drain
 * typed, feedback's verdict): published, stamped now. A stored record newer
 * than the synced one is a decision taken elsewhere: applied here. A synced
 * fact the store lacks (restarted empty, or flushed) is published again, so
 * nothing any host knew is lost. A fact that ended by itself (a suspension
 * past its end) is forgotten, not published as a decision.
 */

export interface FactRecord {
  /** When the decision was taken (ms since the epoch, the deciding host's clock). */
  readonly at: number;
  readonly host: string;
  /** The fact, or null: no longer so (undrained, marked up, suspension cleared). */
  readonly v: string | null;
}

export interface Reconciled {
  /** Records to write to the store. */
  readonly publish: Map<string, FactRecord>;
  /** Fields to delete from the store (facts that ended, old clearings). */
  readonly forget: string[];
  /** Changes to make here: field -> value, or null. */
  readonly apply: Map<string, string | null>;
  /** What this host and the store now agree on. */
  readonly synced: Map<string, FactRecord>;
}

/** How long a "no longer so" record is kept, so hosts that were away learn it. */
export const CLEARED_KEEP_MS = 86_400_000;

export function newer(a: FactRecord, b: FactRecord): boolean {
  return a.at > b.at || (a.at === b.at && a.host > b.host);
}

/**
 * @param local the facts of this host's state now
 * @param synced as this host last agreed with the store (empty at its first run)
 * @param remote the store's records (validated)
 */
export function reconcile(local: Facts, synced: ReadonlyMap<string, FactRecord>, remote: ReadonlyMap<string, FactRecord>, nowMs: number, host: string): Reconciled {
  const out: Reconciled = { publish: new Map(), forget: [], apply: new Map(), synced: new Map() };
  const fields = new Set([...local.keys(), ...synced.keys(), ...remote.keys()]);
  for (const f of fields) {
    const mine = local.get(f) ?? null;
    let s = synced.get(f);
    const r = remote.get(f);
    if (s && mine !== s.v) {
      if (mine === null && s.v !== null && endedByItself(f, s.v, nowMs)) {
        // Ended by itself here: nothing to tell; the store's copy ends the same way.
        if (r && r.v === s.v) out.forget.push(f);
        continue;
      }
      s = { at: nowMs, host, v: mine };
      out.publish.set(f, s);
    } else if (!s && mine !== null && !(r && r.v === mine)) {
      // First sight (a new host, or one whose memory was lost): a drain here
      // wins (the careful side); other facts yield to the store's.
      if (!r || (f.startsWith('d:') && mine === '1')) {
        s = { at: nowMs, host, v: mine };
        out.publish.set(f, s);
      }
    }
    if (r && (!s || newer(r, s))) {
      if (r.v !== mine) out.apply.set(f, r.v);
      s = r;
    } else if (s && (!r || newer(s, r))) {
      // The store lacks it or holds an older record (restarted empty, or our last write was lost).
      out.publish.set(f, s);
    }
    if (!s) continue;
    const over = s.v === null ? nowMs - s.at > CLEARED_KEEP_MS : endedByItself(f, s.v, nowMs);
    if (over) {
      out.publish.delete(f);
      if (r) out.forget.push(f);
    } else {
      out.synced.set(f, s);
    }
  }
  return out;
}
