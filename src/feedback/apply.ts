import type { PoolConfig } from '../config/types.js';
import { hashLo } from '../keys/hash.js';
import { MAX_SUSPENSIONS, SUSPENSION_REASON_BYTES } from '../state/layout.js';
import type { TransportHealth, TroubleState } from '../state/types.js';
import type { FeedbackEvent } from './engine.js';
import { serviceOf } from '../config/service-name.js';

/**
 * A decision of feedback (or an administrator's command) applied to the
 * trouble region. Pure: the old region in, a new one out. A decision about a
 * service applies to every entry of it: the log names the service
 * (syslog_name), not the entry.
 */

/** What ends a reason longer than the state keeps. */
const CUT = ' ...[cut]';

/** The ids (state file identities) of every entry of `service`. */
export function idsOfService(pool: PoolConfig, service: string): number[] {
  return pool.transports.flatMap((t, i) => (serviceOf(t.value) === service ? [hashLo(pool.memberHashes[i]!)] : []));
}

/** Drops what no longer matters: suspensions that ended, transports up and fully ramped. */
function prune(t: TroubleState, nowMs: number): TroubleState {
  return {
    health: t.health.filter((h) => h.down || (h.sinceMs > 0 && nowMs < h.sinceMs + h.rampMs)),
    suspensions: t.suspensions.filter((s) => s.untilMs > nowMs),
  };
}

function withHealth(t: TroubleState, ids: readonly number[], change: (old: TransportHealth | undefined, id: number) => TransportHealth | undefined): TroubleState {
  const others = t.health.filter((h) => !ids.includes(h.id));
  const changed = ids.flatMap((id) => {
    const h = change(t.health.find((x) => x.id === id), id);
    return h ? [h] : [];
  });
  return { health: [...others, ...changed], suspensions: t.suspensions };
}

export function applyEvent(t: TroubleState, pool: PoolConfig, e: FeedbackEvent, nowMs: number): TroubleState {
  const ids = idsOfService(pool, e.service);
  const { holdMs, maxHoldMs, rampMs } = pool.feedback;
  const base = prune(t, nowMs);
  switch (e.kind) {
    case 'down':
      return withHealth(base, ids, (_old, id) => ({ id, down: true, failures: e.failures, sinceMs: nowMs, retryAtMs: nowMs + holdMs, rampMs }));
    case 'failing':
      return withHealth(base, ids, (old, id) => {
        // A failed trial: hold twice as long as the last time, at most maxHoldMs.
        const last = old && old.down ? Math.max(holdMs, old.retryAtMs - old.sinceMs) : holdMs;
        const hold = Math.min(maxHoldMs, last * 2);
        return { id, down: true, failures: e.failures, sinceMs: nowMs, retryAtMs: nowMs + hold, rampMs };
      });
    case 'up':
      return withHealth(base, ids, (_old, id) => ({ id, down: false, failures: 0, sinceMs: nowMs, retryAtMs: 0, rampMs: e.rampMs }));
    case 'suspend': {
      const kept = base.suspensions.filter((s) => !(ids.includes(s.id) && s.destination === e.destination));
      // A reply longer than the state keeps says that it was cut.
      const reason = e.reason.length > SUSPENSION_REASON_BYTES ? `${e.reason.slice(0, SUSPENSION_REASON_BYTES - CUT.length)}${CUT}` : e.reason;
      const added = ids.map((id) => ({ id, destination: e.destination, untilMs: e.untilMs, reason }));
      // Full: the suspensions ending soonest give way.
      const all = [...kept, ...added].sort((a, b) => b.untilMs - a.untilMs).slice(0, MAX_SUSPENSIONS);
      return { health: base.health, suspensions: all };
    }
    default: {
      const unreachable: never = e;
      return unreachable;
    }
  }
}

/** `postbal mark-up`: the transports of `ids` up at full weight at once (no ramp). */
export function markUp(t: TroubleState, ids: readonly number[], nowMs: number): TroubleState {
  return withHealth(prune(t, nowMs), ids, () => undefined);
}

/** `postbal clear-suspension`: ends the suspensions of `ids`, for one destination or all. */
export function clearSuspensions(t: TroubleState, ids: readonly number[], destination: string | undefined, nowMs: number): TroubleState {
  const base = prune(t, nowMs);
  return { health: base.health, suspensions: base.suspensions.filter((s) => !(ids.includes(s.id) && (destination === undefined || s.destination === destination))) };
}
