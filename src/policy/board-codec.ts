import { hashKey } from '../keys/hash.js';
import type { BackendSpec } from './backend.js';

/**
 * The policy state file's layout: what every `postbal policy` instance
 * shares about its services (round-robin scores, circuit breakers, counters).
 * Pure: encode and decode records in a page.
 *
 *   0     header page (4 KiB; one pwrite)
 *         0  magic "PBP1"    4  version u32     8  service count u32
 *        12  fingerprint u32 (of the service list, in order)
 *        16  all-down flag u32 (the default action is in use)
 *        24  statsSince f64 (ms since the epoch)
 *        32  requests f64    40  default answers f64   48  failovers f64
 *            (every instance's, since the board was created; for postbal metrics)
 *        64  per service, 128 bytes (below)
 *   4096  lock table, as in the balancer's state file (state/bakery-lock.ts)
 *
 *   service record:
 *     0  label, ASCII, 48 bytes NUL-padded ("name=host:port")
 *    48  current f64 (smooth WRR score)      56  downUntil f64 (ms epoch; 0: up)
 *    64  downSince f64 (ms epoch; while up: first failure of the streak)  72  answered f64
 *    80  failures f64                         88  latency sum f64 (ms)
 *    96  streak u32 (failures in a row)      100  priority u32
 *   104  weight u32                          108  timeout u32 (ms)
 *   112  last failure, ASCII, 16 bytes
 *
 * All little-endian. Another local user cannot write the file (it is checked
 * like the balancer's), but every value is bounded when read all the same.
 */

export const BOARD_MAGIC = 0x31504250; // "PBP1" as little-endian u32
export const BOARD_VERSION = 1;
export const BOARD_PAGE_BYTES = 4096;
const RECORDS_AT = 64;
const RECORD_BYTES = 128;
const LABEL_BYTES = 48;
const REASON_BYTES = 16;

export interface ServiceRecord {
  label: string;
  current: number;
  downUntil: number;
  downSince: number;
  answered: number;
  failures: number;
  latencySumMs: number;
  streak: number;
  priority: number;
  weight: number;
  timeoutMs: number;
  lastFailure: string;
}

export interface BoardHeader {
  readonly magic: number;
  readonly count: number;
  readonly fingerprint: number;
  readonly allDown: boolean;
  readonly statsSince: number;
  readonly requests: number;
  readonly defaults: number;
  readonly failovers: number;
}

/** Adds one instance's request counts to the board's. */
export function addRequestCounts(page: Buffer, add: { requests: number; defaults: number; failovers: number }): void {
  page.writeDoubleLE(finite(page.readDoubleLE(32)) + add.requests, 32);
  page.writeDoubleLE(finite(page.readDoubleLE(40)) + add.defaults, 40);
  page.writeDoubleLE(finite(page.readDoubleLE(48)) + add.failovers, 48);
}

export function serviceLabel(s: BackendSpec): string {
  return `${s.name}=${s.host}:${s.port}`.slice(0, LABEL_BYTES);
}

/** Changes when a service is added, removed, moved, re-addressed or re-weighted. */
export function fingerprintServices(services: readonly BackendSpec[]): number {
  return hashKey(services.map((s) => `${serviceLabel(s)}:${s.priority}:${s.weight}`).join('\n')) >>> 0;
}

const finite = (x: number, max = Number.MAX_SAFE_INTEGER): number => (Number.isFinite(x) && Math.abs(x) <= max ? x : 0);

export function readHeader(page: Buffer): BoardHeader {
  return {
    magic: page.readUInt32LE(0),
    count: Math.min(page.readUInt32LE(8), 24),
    fingerprint: page.readUInt32LE(12),
    allDown: page.readUInt32LE(16) !== 0,
    statsSince: finite(page.readDoubleLE(24)),
    requests: finite(page.readDoubleLE(32)),
    defaults: finite(page.readDoubleLE(40)),
    failovers: finite(page.readDoubleLE(48)),
  };
}

export function writeAllDown(page: Buffer, allDown: boolean): void {
  page.writeUInt32LE(allDown ? 1 : 0, 16);
}

function ascii(page: Buffer, at: number, bytes: number): string {
  const raw = page.subarray(at, at + bytes);
  const end = raw.indexOf(0);
  return raw.toString('latin1', 0, end < 0 ? bytes : end).replace(/[^\x20-\x7e]/g, '?');
}

function putAscii(page: Buffer, at: number, bytes: number, text: string): void {
  page.fill(0, at, at + bytes);
  page.write(text.replace(/[^\x20-\x7e]/g, '?').slice(0, bytes), at, 'latin1');
}

/** Only the breaker's deadline of service `i`, read in place (the per-request read). */
export function downUntilOf(page: Buffer, i: number): number {
  return finite(page.readDoubleLE(RECORDS_AT + i * RECORD_BYTES + 56));
}

/** Failures of service `i` in a row (distinct requests), read in place (a success resets them). */
export function streakOf(page: Buffer, i: number): number {
  return page.readUInt32LE(RECORDS_AT + i * RECORD_BYTES + 96);
}

/** The smooth WRR score of service `i`, in place (the pick among services of one priority). */
export function currentOf(page: Buffer, i: number): number {
  return finite(page.readDoubleLE(RECORDS_AT + i * RECORD_BYTES + 48), 1e12);
}

export function setCurrent(page: Buffer, i: number, current: number): void {
  page.writeDoubleLE(current, RECORDS_AT + i * RECORD_BYTES + 48);
}

/** Whether the default action is in use, in place. */
export function allDownOf(page: Buffer): boolean {
  return page.readUInt32LE(16) !== 0;
}

export function readRecord(page: Buffer, i: number): ServiceRecord {
  const o = RECORDS_AT + i * RECORD_BYTES;
  return {
    label: ascii(page, o, LABEL_BYTES),
    current: finite(page.readDoubleLE(o + 48), 1e12),
    downUntil: finite(page.readDoubleLE(o + 56)),
    downSince: finite(page.readDoubleLE(o + 64)),
    answered: finite(page.readDoubleLE(o + 72)),
    failures: finite(page.readDoubleLE(o + 80)),
    latencySumMs: finite(page.readDoubleLE(o + 88)),
    streak: page.readUInt32LE(o + 96),
    priority: page.readUInt32LE(o + 100),
    weight: page.readUInt32LE(o + 104),
    timeoutMs: page.readUInt32LE(o + 108),
    lastFailure: ascii(page, o + 112, REASON_BYTES),
  };
}

export function writeRecord(page: Buffer, i: number, r: ServiceRecord): void {
  const o = RECORDS_AT + i * RECORD_BYTES;
  putAscii(page, o, LABEL_BYTES, r.label);
  page.writeDoubleLE(r.current, o + 48);
  page.writeDoubleLE(r.downUntil, o + 56);
  page.writeDoubleLE(r.downSince, o + 64);
  page.writeDoubleLE(r.answered, o + 72);
  page.writeDoubleLE(r.failures, o + 80);
  page.writeDoubleLE(r.latencySumMs, o + 88);
  page.writeUInt32LE(r.streak >>> 0, o + 96);
  page.writeUInt32LE(r.priority >>> 0, o + 100);
  page.writeUInt32LE(r.weight >>> 0, o + 104);
  page.writeUInt32LE(Math.min(r.timeoutMs, 0xffffffff) >>> 0, o + 108);
  putAscii(page, o + 112, REASON_BYTES, r.lastFailure);
}

/** Makes `page` describe `services` from scratch: every service up, counters zero. */
export function initBoard(page: Buffer, services: readonly BackendSpec[], nowMs: number): void {
  page.fill(0, 0, BOARD_PAGE_BYTES);
  page.writeUInt32LE(BOARD_MAGIC, 0);
  page.writeUInt32LE(BOARD_VERSION, 4);
  page.writeUInt32LE(services.length, 8);
  page.writeUInt32LE(fingerprintServices(services), 12);
  page.writeDoubleLE(nowMs, 24);
  services.forEach((s, i) => writeRecord(page, i, {
    label: serviceLabel(s), current: 0, downUntil: 0, downSince: 0, answered: 0, failures: 0, latencySumMs: 0,
    streak: 0, priority: s.priority, weight: s.weight, timeoutMs: s.timeoutMs, lastFailure: '',
  }));
}

/** The bytes of a page that hold the header and `count` records. */
export function boardBytes(count: number): number {
  return RECORDS_AT + count * RECORD_BYTES;
}
