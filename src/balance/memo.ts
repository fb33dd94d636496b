import { MEMO_SLOT_BYTES } from '../state/layout.js';
import type { KeyHash, MemoAccess } from '../state/types.js';

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
 * Slots (16 bytes): hi u32, lo u32, expires u32 (unix seconds), transport u8,
 * uses u8, check u16. hi = 0 marks an empty slot; check detects a slot torn by
 * a crash mid-write, which then counts as empty.
 */

/** How a memo reaches its slots: a file region, or memory. */
export interface SlotIO {
  readonly slots: number;
  /** Returns `count` consecutive slots from `first` (no wrap-around). */
  read(first: number, count: number): Buffer;
  write(index: number, slot: Buffer): void;
}

const PROBE = 8;
const USES_AFTER_PICK = 1;
/** A slot expiring further ahead than this was written by a clock that has since jumped back. */
const CLOCK_SLACK_SEC = 60;

function checkOf(hi: number, lo: number, expires: number, tail: number): number {
  const x = (hi ^ lo ^ expires ^ tail) >>> 0;
  return ((x ^ (x >>> 16)) & 0xffff) ^ 0x5a5a;
}

function encodeSlot(hi: number, lo: number, expires: number, transport: number, uses: number): Buffer {
  const b = Buffer.alloc(MEMO_SLOT_BYTES);
  b.writeUInt32LE(hi, 0);
  b.writeUInt32LE(lo, 4);
  b.writeUInt32LE(expires, 8);
  b.writeUInt8(transport, 12);
  b.writeUInt8(uses, 13);
  b.writeUInt16LE(checkOf(hi, lo, expires, (transport << 8) | uses), 14);
  return b;
}

const EMPTY = Buffer.alloc(MEMO_SLOT_BYTES);

export class MemoTable implements MemoAccess {
  readonly #io: SlotIO;
  readonly #ttlSec: number;
  readonly #transportCount: number;

  /**
   * @param ttlSec how long an answer is remembered; 0 disables the memo
   * @param transportCount entries naming a larger index are ignored
   */
  constructor(io: SlotIO, ttlSec: number, transportCount: number) {
    this.#io = io;
    this.#ttlSec = ttlSec;
    this.#transportCount = transportCount;
  }

  #window(hash: KeyHash): { first: number; count: number; buf: Buffer }[] {
    const n = this.#io.slots;
    const start = hash.lo % n;
    const count = Math.min(PROBE, n);
    const firstPart = Math.min(count, n - start);
    const parts = [{ first: start, count: firstPart, buf: this.#io.read(start, firstPart) }];
    if (firstPart < count) parts.push({ first: 0, count: count - firstPart, buf: this.#io.read(0, count - firstPart) });
    return parts;
  }

  /** Decodes a slot, or undefined when empty, torn, expired or impossible. */
  #live(buf: Buffer, off: number, nowSec: number): { hi: number; lo: number; expires: number; transport: number; uses: number } | undefined {
    const hi = buf.readUInt32LE(off);
    if (hi === 0) return undefined;
    const lo = buf.readUInt32LE(off + 4);
    const expires = buf.readUInt32LE(off + 8);
    const transport = buf.readUInt8(off + 12);
    const uses = buf.readUInt8(off + 13);
    if (buf.readUInt16LE(off + 14) !== checkOf(hi, lo, expires, (transport << 8) | uses)) return undefined;
    if (expires < nowSec || expires > nowSec + this.#ttlSec + CLOCK_SLACK_SEC) return undefined;
    if (transport >= this.#transportCount || uses === 0) return undefined;
    return { hi, lo, expires, transport, uses };
  }

  take(hash: KeyHash, nowSec: number): number | undefined {
    if (this.#ttlSec <= 0 || this.#io.slots === 0) return undefined;
    for (const part of this.#window(hash)) {
      for (let k = 0; k < part.count; k++) {
        const slot = this.#live(part.buf, k * MEMO_SLOT_BYTES, nowSec);
        if (!slot || slot.hi !== hash.hi || slot.lo !== hash.lo) continue;
        const left = slot.uses - 1;
        this.#io.write(part.first + k, left > 0 ? encodeSlot(slot.hi, slot.lo, slot.expires, slot.transport, left) : EMPTY);
        return slot.transport;
      }
    }
    return undefined;
  }

  put(hash: KeyHash, transport: number, nowSec: number): void {
    if (this.#ttlSec <= 0 || this.#io.slots === 0) return;
    let target = -1;
    let targetExpires = Infinity;
    for (const part of this.#window(hash)) {
      for (let k = 0; k < part.count; k++) {
        const slot = this.#live(part.buf, k * MEMO_SLOT_BYTES, nowSec);
        const index = part.first + k;
        if (!slot || (slot.hi === hash.hi && slot.lo === hash.lo)) {
          target = index;
          targetExpires = -1;
          break;
        }
        // Full window: evict the entry closest to expiry.
        if (slot.expires < targetExpires) {
          target = index;
          targetExpires = slot.expires;
        }
      }
      if (targetExpires === -1) break;
    }
    if (target >= 0) this.#io.write(target, encodeSlot(hash.hi, hash.lo, nowSec + this.#ttlSec, transport, USES_AFTER_PICK));
  }
}

/** SlotIO over a Buffer, recording which slots changed. */
export class BufferSlotIO implements SlotIO {
  readonly slots: number;
  readonly buffer: Buffer;
  dirtyFirst = Infinity;
  dirtyLast = -1;
  constructor(buffer: Buffer) {
    this.buffer = buffer;
    this.slots = Math.floor(buffer.length / MEMO_SLOT_BYTES);
  }
  read(first: number, count: number): Buffer {
    return this.buffer.subarray(first * MEMO_SLOT_BYTES, (first + count) * MEMO_SLOT_BYTES);
  }
  write(index: number, slot: Buffer): void {
    slot.copy(this.buffer, index * MEMO_SLOT_BYTES);
    if (index < this.dirtyFirst) this.dirtyFirst = index;
    if (index > this.dirtyLast) this.dirtyLast = index;
  }
}
