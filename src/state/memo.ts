import { MEMO_SLOT_BYTES } from './layout.js';
import type { KeyHash, MemoAccess } from './types.js';
import { hashHi, hashLo } from '../keys/hash.js';

/**
 * The repeat memo: "this key was just answered with transport T; answer the
 * next lookup of the same key with T too, without using a new position".
 *
 * Why: Postfix looks up every recipient twice (smtpd at RCPT time, qmgr
 * before delivery), from different helper processes, and only the second
 * answer routes the mail. If each lookup used a position of the shared
 * sequence, deliveries would follow every other position, and with the same
 * key repeated (sender_dependent_default_transport_maps) a deterministic
 * sequence sampled by two interleaved callers is biased. Pairing makes each
 * distinct key use exactly one position, and each position answer twice, so
 * whichever of the two answers routes the mail, the shares hold.
 *
 * Slots are 16 bytes, four little-endian u32 words: hash hi, hash lo,
 * expires (unix seconds), and tail = transport | uses << 8 | check << 16.
 * hi = 0 marks an empty slot; check detects a slot torn by a crash mid-write,
 * which then counts as empty. A key lives in one of PROBE slots from
 * `lo mod slots` (linear probing, no wrap-around state to maintain).
 */

/**
 * How a memo reaches its slots. `words` spans every slot (4 words each), but
 * only slots passed to `load` since the last transaction began are current:
 * a file store may read just those.
 */
export interface SlotIO {
  readonly slots: number;
  readonly words: Uint32Array;
  /** Makes slots `first .. first+count` current (no wrap-around). */
  load(first: number, count: number): void;
  /** Persists slot `index` after it changed in `words`. */
  store(index: number): void;
}

const PROBE = 8;
const WORDS = MEMO_SLOT_BYTES / 4;
/** A slot expiring further ahead than this was written by a clock that has since jumped back. */
const CLOCK_SLACK_SEC = 60;

function checkOf(hi: number, lo: number, expires: number, low16: number): number {
  const x = (hi ^ lo ^ expires ^ low16) >>> 0;
  return ((x ^ (x >>> 16)) & 0xffff) ^ 0x5a5a;
}

export class MemoTable implements MemoAccess {
  readonly #io: SlotIO;
  readonly #ttlSec: number;
  readonly #transportCount: number;
  /** Where `put` stores the key the last `take` missed (found during its probe). */
  #missHash = -1;
  #missSlot = -1;

  /**
   * @param ttlSec how long an answer is remembered; 0 disables the memo
   * @param transportCount entries naming a larger index are ignored
   */
  constructor(io: SlotIO, ttlSec: number, transportCount: number) {
    this.#io = io;
    this.#ttlSec = ttlSec;
    this.#transportCount = transportCount;
  }

  /** Is the slot at word offset `w` a live entry? */
  #live(v: Uint32Array, w: number, nowSec: number): boolean {
    const hi = v[w]!;
    if (hi === 0) return false;
    const expires = v[w + 2]!;
    const tail = v[w + 3]!;
    const low16 = tail & 0xffff;
    if (tail >>> 16 !== checkOf(hi, v[w + 1]!, expires, low16)) return false;
    if (expires < nowSec || expires > nowSec + this.#ttlSec + CLOCK_SLACK_SEC) return false;
    return (low16 & 0xff) < this.#transportCount && low16 >>> 8 > 0;
  }

  /** Loads the probe window of a key and returns its first slot index. */
  #loadWindow(lo: number): number {
    const n = this.#io.slots;
    const start = lo % n;
    const count = Math.min(PROBE, n);
    const first = Math.min(count, n - start);
    this.#io.load(start, first);
    if (first < count) this.#io.load(0, count - first);
    return start;
  }

  get usable(): boolean {
    return this.#ttlSec > 0 && this.#io.slots > 0;
  }

  take(hash: KeyHash, nowSec: number): number | undefined {
    return this.#probe(hash, nowSec, true);
  }

  /**
   * Finds a key's entry; `consume` uses up one of its answers. On a miss (or
   * when not consuming) remembers where `put` should store the key.
   */
  #probe(hash: KeyHash, nowSec: number, consume: boolean): number | undefined {
    this.#missHash = -1;
    const n = this.#io.slots;
    if (this.#ttlSec <= 0 || n === 0) return undefined;
    const hi = hashHi(hash);
    const lo = hashLo(hash);
    const v = this.#io.words;
    const start = this.#loadWindow(lo);
    // While probing, also choose where a miss would be stored: the first
    // free slot, else the entry closest to expiry.
    let free = -1;
    let oldest = -1;
    let oldestExpires = Infinity;
    for (let k = 0; k < PROBE && k < n; k++) {
      const index = (start + k) % n;
      const w = index * WORDS;
      if (!this.#live(v, w, nowSec)) {
        if (free < 0) free = index;
        continue;
      }
      if (v[w] === hi && v[w + 1] === lo) {
        if (!consume) {
          this.#missHash = hash;
          this.#missSlot = index;
          return undefined;
        }
        const tail = v[w + 3]!;
        const transport = tail & 0xff;
        const uses = ((tail >>> 8) & 0xff) - 1;
        if (uses > 0) {
          const low16 = transport | (uses << 8);
          v[w + 3] = (low16 | (checkOf(hi, lo, v[w + 2]!, low16) << 16)) >>> 0;
        } else {
          v.fill(0, w, w + WORDS);
        }
        this.#io.store(index);
        return transport;
      }
      if (v[w + 2]! < oldestExpires) {
        oldest = index;
        oldestExpires = v[w + 2]!;
      }
    }
    this.#missHash = hash;
    this.#missSlot = free >= 0 ? free : oldest;
    return undefined;
  }

  put(hash: KeyHash, transport: number, nowSec: number): void {
    if (this.#ttlSec <= 0 || this.#io.slots === 0) return;
    // Right after a missed take of this key the place is known; else find it.
    if (this.#missHash !== hash) this.#probe(hash, nowSec, false);
    const index = this.#missSlot;
    this.#missHash = -1;
    if (index < 0) return;
    const v = this.#io.words;
    const w = index * WORDS;
    const hi = hashHi(hash);
    const lo = hashLo(hash);
    const expires = nowSec + this.#ttlSec;
    const low16 = transport | (1 << 8); // one more use: the key's second lookup
    v[w] = hi;
    v[w + 1] = lo;
    v[w + 2] = expires;
    v[w + 3] = (low16 | (checkOf(hi, lo, expires, low16) << 16)) >>> 0;
    this.#io.store(index);
  }
}

/** SlotIO over one in-memory region (the whole memo), for a memory store. */
export class BufferSlotIO implements SlotIO {
  readonly slots: number;
  readonly words: Uint32Array;
  constructor(buffer: Buffer) {
    this.slots = Math.floor(buffer.length / MEMO_SLOT_BYTES);
    // Little-endian hosts only (x86-64, arm64), as the file format is little-endian.
    this.words = new Uint32Array(buffer.buffer, buffer.byteOffset, this.slots * WORDS);
  }
  load(): void {}
  store(): void {}
}

/**
 * A burst of keys against the memo: which keys repeat a remembered answer,
 * which need a new one, and which repeat an earlier key of the same burst
 * (its second occurrence repeats the first's pick, as it would have from the
 * memo had it come in a later burst).
 */
export interface BurstPlan {
  /** Per key: the remembered member, or undefined (decided later). */
  readonly members: (number | undefined)[];
  /** Keys answered from the memo. */
  readonly remembered: number[];
  /** The first occurrence of each key the memo does not have, in order. */
  readonly fresh: number[];
  /** Pairs [later, first]: a later occurrence and the first it repeats. */
  readonly repeatOf: number[];
  /** Per key hash, its fresh occurrence whose one repeat was not used within the burst (to be remembered). */
  readonly unpaired: Map<KeyHash, number>;
}

/** Takes each key's remembered answer, if any (consumed: one repeat per answer). */
export function planBurst(hashes: readonly KeyHash[], memo: MemoAccess, nowSec: number): BurstPlan {
  const plan: BurstPlan = { members: new Array<number | undefined>(hashes.length), remembered: [], fresh: [], repeatOf: [], unpaired: new Map() };
  for (let i = 0; i < hashes.length; i++) {
    const hash = hashes[i]!;
    const first = plan.unpaired.get(hash);
    if (first !== undefined) {
      plan.unpaired.delete(hash);
      plan.repeatOf.push(i, first);
      continue;
    }
    const index = memo.take(hash, nowSec);
    if (index !== undefined) {
      plan.members[i] = index;
      plan.remembered.push(i);
      continue;
    }
    plan.fresh.push(i);
    plan.unpaired.set(hash, i);
  }
  return plan;
}
