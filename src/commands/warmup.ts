import { resolve } from 'node:path';
import { describeUser } from '../sys/users.js';
import { EX } from '../errors.js';
import type { PoolConfig } from '../config/types.js';
import { warmupRecordId } from '../balance/eligibility/warmup.js';
import { localTime, newRecord, pacedAllowance, rollDay, stageCap, type WarmupRecord } from '../balance/warmup.js';
import { changeState, poolAndMembers, type ControlIo } from './control.js';

/**
 * What `postbal status` says of warming transports, and `postbal
 * warmup-stage`, which sets a transport's stage by hand.
 */

export interface WarmupStatus {
  readonly transport: string;
  /** The provider group (its domains) these counts are for; null: every domain outside the groups (all, without groups). */
  readonly provider: string | null;
  /** 1-based; stages + 1 once warmed. */
  readonly stage: number;
  readonly stages: number;
  readonly warmed: boolean;
  /** New answers today (local time). */
  readonly today: number;
  /** Today's cap, or null once warmed. */
  readonly cap: number | null;
  /** How much of the cap the pacing opens by now (cap x (hour + 1) / 20). */
  readonly allowedNow: number | null;
  /** When its first answer came (or the stage was last set by hand), or null. */
  readonly since: string | null;
}

/** The warming transports as the next transaction would see them (their day turned to today). */
export function warmupStatus(pool: PoolConfig, records: readonly WarmupRecord[], nowMs: number): WarmupStatus[] {
  const now = localTime(nowMs);
  return pool.transports.flatMap((t, i) => {
    const schedule = t.warmup;
    if (!schedule) return [];
    return Array.from({ length: pool.warmupProviders.length + 1 }, (_, g) => {
      const id = warmupRecordId(pool, i, g);
      const rec = rollDay(records.find((r) => r.id === id) ?? newRecord(id), schedule, now).record;
      const cap = stageCap(schedule, rec.stage) ?? null;
      return {
        transport: t.value,
        provider: g === 0 ? null : pool.warmupProviders[g - 1]!.join(' '),
        stage: Math.min(rec.stage, schedule.length) + 1,
        stages: schedule.length,
        warmed: cap === null,
        today: rec.day === now.day ? rec.count : 0,
        cap,
        allowedNow: cap === null ? null : pacedAllowance(cap, now.hour),
        since: rec.sinceMs > 0 ? new Date(rec.sinceMs).toISOString() : null,
      };
    });
  });
}

export function describeWarmup(w: WarmupStatus, grouped: boolean): string {
  const to = grouped ? `to ${w.provider ?? 'other domains'}: ` : '';
  return to + describeCounts(w);
}

function describeCounts(w: WarmupStatus): string {
  if (w.warmed) return `warmed (past stage ${w.stages}), ${w.today} today, no cap; warming since ${w.since ?? '-'}`;
  return `stage ${w.stage} of ${w.stages}: ${w.today} of ${w.cap} today (${w.allowedNow} open by this hour); warming since ${w.since ?? 'its first answer'}`;
}

/**
 * `postbal warmup-stage TRANSPORT STAGE`: sets the stage (1 starts again
 * from the first; stages + 1, or "warmed", ends the warm-up); today's count
 * is kept, so a stage set by hand cannot be used twice in one day.
 */
export function runWarmupStage(configFile: string, statePath: string, name: string, stageText: string, io: ControlIo): number {
  const found = poolAndMembers(configFile, name, io);
  if (typeof found === 'number') return found;
  const { pool } = found;
  const members = found.members.filter((i) => pool.transports[i]!.warmup !== undefined);
  if (members.length === 0) {
    io.err(`postbal: ${configFile}: "${name}" has no warmup= schedule; warming transports: ${pool.transports.filter((t) => t.warmup).map((t) => t.value).join(' ') || 'none'}\n`);
    return EX.USAGE;
  }
  const most = Math.max(...members.map((i) => pool.transports[i]!.warmup!.length));
  const stage = stageText === 'warmed' ? most + 1 : /^\d{1,3}$/.test(stageText) ? Number(stageText) : NaN;
  if (!(stage >= 1 && stage <= most + 1)) {
    io.err(`postbal: warmup-stage: STAGE: expected 1 to ${most + 1} (${most + 1} or "warmed": no cap any more), got "${stageText}"\n`);
    return EX.USAGE;
  }
  const now = Date.now();
  const code = changeState(pool, statePath, io, (state) => {
    for (const i of members) {
      // Every provider group's count of the transport (and the one for other domains).
      for (let g = 0; g <= pool.warmupProviders.length; g++) {
        const id = warmupRecordId(pool, i, g);
        const k = state.warmup.findIndex((r) => r.id === id);
        const rec = k >= 0 ? state.warmup[k]! : newRecord(id);
        const next = { ...rec, stage: Math.min(stage - 1, pool.transports[i]!.warmup!.length), sinceMs: stage === 1 ? now : rec.sinceMs || now };
        if (k >= 0) state.warmup[k] = next;
        else state.warmup.push(next);
      }
    }
  });
  if (code !== EX.OK) return code;
  const values = members.map((i) => pool.transports[i]!.value).join(' ');
  io.out(`warm-up stage of ${values} set to ${stage > most ? 'warmed (no cap)' : stage}\n`);
  io.logger.log('info', `warm-up: ${values} set to stage ${stage > most ? 'warmed' : stage} by ${describeUser(process.geteuid?.() ?? 0)} (state ${resolve(statePath)})`);
  return EX.OK;
}
