import type { WarmupRecord } from './types.js';

export type { WarmupRecord };

/**
 * IP warm-up: how many new answers a warming transport may give now. Pure:
 * the clock and the record are passed in.
 *
 * A schedule lists the day caps of stage 1, 2, …; past the last stage there
 * is no cap. A stage advances after a day on which the transport gave at
 * least ADVANCE_SHARE of its cap (SparkPost's automated warm-up rule); a
 * shorter day repeats the stage; a day without traffic leaves no record and
 * so does not count.
 *
 * Pacing: the day's cap is released in PACING_PARTS equal hourly parts, the
 * first at 00:00 local time: during hour h (0-23), (h + 1) / 20 of it may be
 * used in all, so a burst at midnight takes at most 5%, business hours that
 * end at 18:00 can reach 90%, and from 19:00 the whole cap is open (90% is
 * reachable well before 23:00).
 */

export const ADVANCE_SHARE = 0.9;
export const PACING_PARTS = 20;
export { MAX_STAGES, MAX_WARMUP_RECORDS } from '../config/limits.js';

/** One warming transport in the shared state. */
/** Where "now" falls in local time: the day number and the hour of the day. */
export interface LocalTime {
  readonly day: number;
  readonly hour: number;
}

/** Local calendar days since 1970-01-01, and the hour, honouring TZ and daylight saving time. */
export function localTime(ms: number): LocalTime {
  const d = new Date(ms);
  const local = ms - d.getTimezoneOffset() * 60_000;
  return { day: Math.floor(local / 86_400_000), hour: d.getHours() };
}

/** Local hours and days change only at quarter hours of UTC (every zone's offset is a multiple of 15 minutes). */
const QUARTER_MS = 900_000;
let cached: { from: number; to: number; value: LocalTime } | undefined;

/** localTime, computed once per quarter hour: it runs in every transaction that warms. */
export function localTimeCached(ms: number): LocalTime {
  if (cached && ms >= cached.from && ms < cached.to) return cached.value;
  const from = Math.floor(ms / QUARTER_MS) * QUARTER_MS;
  cached = { from, to: from + QUARTER_MS, value: localTime(ms) };
  return cached.value;
}

/** The day cap of a stage, or undefined when it is past the schedule (warmed). */
export function stageCap(schedule: readonly number[], stage: number): number | undefined {
  return stage < schedule.length ? schedule[stage] : undefined;
}

/** How many of the day's cap may be used in all by hour `hour`. */
export function pacedAllowance(cap: number, hour: number): number {
  return Math.floor((cap * Math.min(PACING_PARTS, Math.max(0, hour) + 1)) / PACING_PARTS);
}

/**
 * The record as of `now`: on a later day than its own, the stage advances
 * (the day reached ADVANCE_SHARE of its cap) or repeats, and the count
 * starts from zero. A clock that went back to an earlier day keeps counting
 * on the record's day: stepping the clock back never frees a cap.
 * @returns the record (the same object when nothing changed) and the stage change, if any
 */
export function rollDay(rec: WarmupRecord, schedule: readonly number[], now: LocalTime): { record: WarmupRecord; advanced?: { from: number; to: number; count: number; cap: number } } {
  if (rec.day === 0 || now.day <= rec.day) return { record: rec };
  const cap = stageCap(schedule, rec.stage);
  const next = { ...rec, day: now.day, count: 0 };
  if (cap !== undefined && rec.count >= Math.ceil(cap * ADVANCE_SHARE)) {
    next.stage = rec.stage + 1;
    return { record: next, advanced: { from: rec.stage, to: next.stage, count: rec.count, cap } };
  }
  return { record: next };
}

/**
 * May the transport give one more new answer now?
 * @param rec as returned by rollDay for the same `now`
 */
export function mayAnswer(rec: WarmupRecord, schedule: readonly number[], now: LocalTime): boolean {
  const cap = stageCap(schedule, rec.stage);
  if (cap === undefined) return true;
  const used = rec.day !== 0 && now.day <= rec.day ? rec.count : 0;
  // The clock went back to an earlier day: the count is the record's day's, whose hour is unknown.
  const hour = now.day < rec.day ? 23 : now.hour;
  return used < pacedAllowance(cap, hour);
}

/** Counts one new answer given at `now` (after rollDay), in place. @returns `rec` */
export function countAnswer(rec: WarmupRecord, now: LocalTime, nowMs: number): WarmupRecord {
  const day = Math.max(rec.day, now.day);
  rec.count = (day === rec.day ? rec.count : 0) + 1;
  rec.day = day;
  if (rec.sinceMs <= 0) rec.sinceMs = nowMs;
  return rec;
}

/** A transport that has not warmed at all yet. */
export function newRecord(id: number): WarmupRecord {
  return { id, stage: 0, day: 0, count: 0, sinceMs: 0 };
}
