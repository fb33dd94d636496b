import { crc32 } from './crc32.js';

/**
 * The tally region: counters of what every instance did (lookups by answer,
 * lock waits, feedback's lines and decisions), for `postbal metrics`. Spawned
 * instances live as long as one Postfix connection, so what they count must
 * outlive them: each adds what it counted to the region inside a transaction
 * it takes anyway (one more 4 KiB pwrite under a lock already held), and at
 * exit. A region torn by a crash fails its CRC and starts again from zero,
 * which Prometheus reads as a counter reset.
 *
 *   0  magic "PBC1"   4  crc32 of [8, TALLY_BYTES)
 *   8  f64 counters, in TALLY_NAMES order (append-only: an index never changes meaning)
 */
export const TALLY_MAGIC = 0x31434250; // "PBC1" read as little-endian u32
export const TALLY_BYTES = 4096;
const COUNTERS_AT = 8;

/** Upper bounds (seconds) of the lock-wait histogram's buckets; the last is +Inf. */
export const LOCK_WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1] as const;

/** Why a lookup got the answer it got. `answer/reason`. */
export const LOOKUP_OUTCOMES = [
  'new/pick', 'repeat/memo', 'fallback/no_transport_available',
  'not_found/no_transport_available', 'not_found/not_in_scope', 'not_found/wildcard',
  'tempfail/config', 'tempfail/invalid_request', 'tempfail/internal', 'permfail/malformed_request',
] as const;
export type LookupOutcome = (typeof LOOKUP_OUTCOMES)[number];

/** Why a lookup was answered from memory instead of the shared state. */
export const MEMORY_REASONS = ['lock_busy', 'state_unusable'] as const;
export type MemoryReason = (typeof MEMORY_REASONS)[number];

/** How postbal feedback judged a log line (`other`: not a delivery line of a balanced transport). */
export const FEEDBACK_LINES = ['believed', 'untrusted', 'refused', 'other'] as const;
export type FeedbackLine = (typeof FEEDBACK_LINES)[number];
export const FEEDBACK_DECISIONS = ['down', 'failing', 'up', 'suspend'] as const;
export type FeedbackDecision = (typeof FEEDBACK_DECISIONS)[number];

export const TALLY_NAMES: readonly string[] = [
  ...LOOKUP_OUTCOMES.map((o) => `lookup:${o}`),
  ...MEMORY_REASONS.map((r) => `memory:${r}`),
  ...LOCK_WAIT_BUCKETS.map((b) => `lock_wait:${b}`), 'lock_wait:+Inf', 'lock_wait:sum', 'lock_wait:count',
  ...FEEDBACK_LINES.map((l) => `feedback_line:${l}`),
  ...FEEDBACK_DECISIONS.map((d) => `feedback_decision:${d}`),
];
export const TALLY_INDEX: ReadonlyMap<string, number> = new Map(TALLY_NAMES.map((n, i) => [n, i]));
if (COUNTERS_AT + 8 * TALLY_NAMES.length > TALLY_BYTES) throw new Error('tally region overflow');

/** Counters as read: by name, 0 when absent. */
export type Tally = ReadonlyMap<string, number>;

/** Decodes a region; undefined when it is absent, torn or foreign (counted from zero). */
export function decodeTally(buf: Buffer): Tally | undefined {
  if (buf.length < TALLY_BYTES || buf.readUInt32LE(0) !== TALLY_MAGIC) return undefined;
  if (buf.readUInt32LE(4) !== crc32(buf.subarray(8, TALLY_BYTES))) return undefined;
  const out = new Map<string, number>();
  TALLY_NAMES.forEach((name, i) => {
    const v = buf.readDoubleLE(COUNTERS_AT + 8 * i);
    // Another writer's garbage never becomes a negative or endless counter.
    out.set(name, Number.isFinite(v) && v > 0 ? v : 0);
  });
  return out;
}

export function encodeTally(tally: Tally): Buffer {
  const buf = Buffer.alloc(TALLY_BYTES);
  buf.writeUInt32LE(TALLY_MAGIC, 0);
  TALLY_NAMES.forEach((name, i) => buf.writeDoubleLE(tally.get(name) ?? 0, COUNTERS_AT + 8 * i));
  buf.writeUInt32LE(crc32(buf.subarray(8, TALLY_BYTES)), 4);
  return buf;
}

/**
 * What this process counted and has not yet added to the region. Kept in
 * the process while the state cannot be written (memory, lock busy), added
 * at the next transaction that can.
 */
export class PendingTally {
  readonly #counts = new Map<string, number>();

  add(name: string, n = 1): void {
    if (!TALLY_INDEX.has(name)) throw new Error(`unknown tally counter ${name}`);
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + n);
  }

  /** A lock wait, into the histogram. */
  lockWait(seconds: number): void {
    const bucket = LOCK_WAIT_BUCKETS.find((b) => seconds <= b);
    this.add(`lock_wait:${bucket ?? '+Inf'}`);
    this.add('lock_wait:sum', seconds);
    this.add('lock_wait:count');
  }

  get empty(): boolean {
    return this.#counts.size === 0;
  }

  /** The region with what is pending added (call `clear` once it is written). */
  mergedWith(current: Tally | undefined): Tally {
    const next = new Map(current ?? []);
    for (const [name, n] of this.#counts) next.set(name, (next.get(name) ?? 0) + n);
    return next;
  }

  clear(): void {
    this.#counts.clear();
  }
}
