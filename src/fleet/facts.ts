import type { PoolConfig } from '../config/types.js';
import { hashLo } from '../keys/hash.js';
import { DRAINED } from '../balance/eligibility/drain.js';
import { MAX_SUSPENSIONS, SUSPENSION_DESTINATION_BYTES, SUSPENSION_REASON_BYTES } from '../state/layout.js';
import type { BalanceState, Suspension, TransportHealth, TroubleState } from '../balance/types.js';

/**
 * The facts a fleet shares, as flat records: one field per fact, one short
 * text per value, so the store holds them in one hash and a host compares
 * them as strings. Pure.
 *
 *   d:ID            "1" drained, "0" not
 *   h:ID            "down|failures|sinceMs|retryAtMs|rampMs" (feedback's health)
 *   s:ID:DEST       "untilMs|reason" (a suspension for one destination)
 *
 * ID is the transport's id in hex (the low 32 bits of its value's hash, as
 * in the state file), so hosts whose pools list it agree on it.
 */

export type Facts = Map<string, string>;

const ID = '[0-9a-f]{8}';
const FIELD = new RegExp(`^(?:[dh]:${ID}|s:${ID}:[a-z0-9._-]{1,${SUSPENSION_DESTINATION_BYTES}})$`);
const NUMBER = /^\d{1,16}$/;

function hex(id: number): string {
  return (id >>> 0).toString(16).padStart(8, '0');
}

/** The facts of one host's state now (suspensions that ended are no facts). */
export function factsOf(pool: PoolConfig, state: BalanceState, trouble: TroubleState, nowMs: number): Facts {
  const facts: Facts = new Map();
  pool.memberHashes.forEach((h, i) => facts.set(`d:${hex(hashLo(h))}`, (state.transports[i]!.flags & DRAINED) !== 0 ? '1' : '0'));
  for (const h of trouble.health) facts.set(`h:${hex(h.id)}`, [h.down ? 1 : 0, h.failures, h.sinceMs, h.retryAtMs, h.rampMs].join('|'));
  for (const s of trouble.suspensions) if (s.untilMs > nowMs) facts.set(`s:${hex(s.id)}:${s.destination}`, `${s.untilMs}|${s.reason}`);
  return facts;
}

/** Is `value` a well-formed value for `field`? (A store another client can write is not trusted.) */
export function validFact(field: string, value: string): boolean {
  if (!FIELD.test(field)) return false;
  if (field.startsWith('d:')) return value === '0' || value === '1';
  if (field.startsWith('h:')) {
    const p = value.split('|');
    return p.length === 5 && (p[0] === '0' || p[0] === '1') && p.slice(1).every((x) => NUMBER.test(x));
  }
  const bar = value.indexOf('|');
  // The reason is shown by status and logs: printable, bounded.
  return bar > 0 && NUMBER.test(value.slice(0, bar)) && value.length - bar - 1 <= SUSPENSION_REASON_BYTES && /^[\x20-\x7e]*$/.test(value.slice(bar + 1));
}

/** Has the fact ended by itself (a suspension past its end, a ramp done), so that its absence is no decision? */
export function endedByItself(field: string, value: string, nowMs: number): boolean {
  if (field.startsWith('s:')) return Number(value.slice(0, value.indexOf('|'))) <= nowMs;
  if (field.startsWith('h:')) {
    const [down, , since, , ramp] = value.split('|').map(Number);
    return down === 0 && since! + ramp! <= nowMs;
  }
  return false;
}

/**
 * Sets the facts `changes` (field -> value, or null: no longer so) in a
 * state and trouble region; facts about transports this pool does not list
 * are ignored. @returns the trouble region, new when it changed
 */
export function applyFacts(pool: PoolConfig, state: BalanceState, trouble: TroubleState, changes: ReadonlyMap<string, string | null>): TroubleState {
  const members = new Map(pool.memberHashes.map((h, i) => [hex(hashLo(h)), i] as const));
  let health: TransportHealth[] | undefined;
  let suspensions: Suspension[] | undefined;
  for (const [field, value] of changes) {
    const idHex = field.slice(2, 10);
    const member = members.get(idHex);
    if (member === undefined) continue;
    const id = parseInt(idHex, 16);
    if (field.startsWith('d:')) {
      const t = state.transports[member]!;
      t.flags = value === '1' ? t.flags | DRAINED : t.flags & ~DRAINED;
    } else if (field.startsWith('h:')) {
      health = (health ?? [...trouble.health]).filter((h) => h.id !== id);
      if (value !== null) {
        const [down, failures, sinceMs, retryAtMs, rampMs] = value.split('|').map(Number);
        health.push({ id, down: down === 1, failures: failures!, sinceMs: sinceMs!, retryAtMs: retryAtMs!, rampMs: rampMs! });
      }
    } else {
      const destination = field.slice(11);
      suspensions = (suspensions ?? [...trouble.suspensions]).filter((s) => !(s.id === id && s.destination === destination));
      if (value !== null) {
        const bar = value.indexOf('|');
        suspensions.push({ id, destination, untilMs: Number(value.slice(0, bar)), reason: value.slice(bar + 1) });
      }
    }
  }
  if (!health && !suspensions) return trouble;
  const kept = (suspensions ?? trouble.suspensions).sort((a, b) => b.untilMs - a.untilMs).slice(0, MAX_SUSPENSIONS);
  return { health: health ?? trouble.health, suspensions: kept };
}
