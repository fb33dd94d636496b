import { lstatSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { checkStateDirectory, forbiddenPathProblem } from '../state/path-safety.js';
import { loadConfigFor } from './load-config.js';
import type { PoolConfig } from '../config/types.js';
import { EX } from '../errors.js';
import { isDrained } from '../balance/eligibility/drain.js';
import { eligibleMembers } from '../balance/eligibility/index.js';
import { inspectStateFile, inspectTrouble } from '../state/inspect.js';
import { healthFactor } from '../balance/eligibility/health.js';
import { RULES } from '../balance/eligibility/index.js';
import { hashLo } from '../keys/hash.js';
import type { Eligible, TransportHealth, TroubleState } from '../balance/types.js';
import { carryOver, type DecodedHeader } from '../state/codec.js';
import { CAPPED } from '../balance/eligibility/warmup.js';
import { fleetReport, printFleet, type FleetReport } from './status-fleet.js';
import { describeWarmup, warmupStatus, type WarmupStatus } from './warmup.js';
import { readLastGood, type LastGoodConfig } from '../state/last-good.js';
import { parseConfig } from '../config/parse.js';
import { describeUser } from '../sys/users.js';
import { printable } from '../log/format.js';

/**
 * `postbal status`: the pool by tier, drain marks, and how many picks each
 * transport got since the counters were reset; `--json` for scripts.
 */

export interface StatusReport {
  readonly config: {
    readonly file: string;
    readonly valid: boolean;
    readonly algorithm?: string;
    readonly fallback?: string | null;
    /** The file cannot be loaded and serving instances use the copy kept beside the state (what the rest of the report shows). */
    readonly lastGood?: { readonly path: string; readonly source: string; readonly loadedAt: string; readonly sha256: string };
  };
  readonly state: {
    readonly path: string | null;
    /** `ok`, or why there are no shared counters. */
    readonly status: string;
    readonly samePool: boolean;
    readonly seq?: number;
    readonly countersSince?: string;
    /** Memo slots of the file (where its later regions are). */
    readonly memoSlots?: number;
  };
  /** The fleet this host belongs to (fleet = redis://…), as its agent last saw it. */
  readonly fleet?: FleetReport;
  /** The priority picks come from now; null when every transport is drained. */
  readonly activePriority: number | null;
  readonly transports: readonly {
    readonly transport: string;
    readonly weight: number;
    readonly priority: number;
    /** null when the state file cannot be read: unknown, not "not drained". */
    readonly drained: boolean | null;
    /** A warming transport at its cap for now (the others take its mail). */
    readonly capped: boolean;
    readonly active: boolean;
    /** Share of its tier's weight, as configured. */
    readonly targetShare: number;
    /** Share of new picks it gets now: 0 when drained or not in the active tier. */
    readonly effectiveShare: number;
    readonly picks: number | null;
    readonly actualShare: number | null;
    readonly repeats: number | null;
    /** From postbal feedback: `up`, `down until …`, `trial` (past its retry time), `ramping (40%)`; `unknown` when the state cannot be read. */
    readonly health: string;
    /** Destinations postbal feedback suspended it for (it takes no new mail for them). */
    readonly suspendedFor: readonly string[];
  }[];
  /** Warming transports (warmup=): stage, today's count and cap. */
  readonly warmup: readonly WarmupStatus[];
  /** Suspensions in force, from postbal feedback. */
  readonly suspensions: readonly { readonly transport: string; readonly destination: string; readonly until: string; readonly reason: string }[];
}

function describeHealth(h: TransportHealth | undefined, nowMs: number): string {
  if (!h) return 'up';
  const factor = healthFactor(h, nowMs);
  if (h.down) return factor > 0 ? 'trial' : `down until ${new Date(h.retryAtMs).toISOString()}`;
  return factor < 1 ? `ramping (${Math.round(factor * 100)}%)` : 'up';
}

/**
 * Why a serving instance would refuse this state path (and serve from
 * memory), judged as that instance would: as the directory's owner, the user
 * Postfix runs postbal as.
 */
function refusal(path: string): string | undefined {
  let owner: number;
  try {
    owner = lstatSync(dirname(path)).uid;
  } catch {
    return undefined;
  }
  try {
    const forbidden = forbiddenPathProblem(path);
    if (forbidden) throw forbidden;
    checkStateDirectory(path, { euid: owner, strict: true });
    return undefined;
  } catch (err) {
    return `REFUSED by serving instances, which answer from memory (not shared) until it is fixed: ${(err as Error).message}`;
  }
}

/** The last good copy serving instances fall back to, when it parses. */
function lastGoodPool(statePath: string): { pool: PoolConfig; kept: LastGoodConfig } | undefined {
  if (statePath === 'none') return undefined;
  const kept = readLastGood(resolve(statePath));
  if (!kept) return undefined;
  try {
    return { pool: parseConfig(kept.text, kept.path).pool, kept };
  } catch {
    return undefined;
  }
}

export function statusReport(configFile: string, statePath: string, err: (s: string) => void): { report: StatusReport; code: number } {
  const f = readFacts(configFile, statePath, err);
  const { pool, decoded, trouble, nowMs } = f;
  const report: StatusReport = {
    config: {
      file: configFile,
      valid: f.own !== undefined,
      ...(pool ? { algorithm: pool.algorithm, fallback: pool.fallback ?? null } : {}),
      ...(f.lastGood ? { lastGood: { path: f.lastGood.path, source: f.lastGood.source, loadedAt: f.lastGood.loadedAt, sha256: f.lastGood.sha256 } } : {}),
    },
    state: {
      path: f.path,
      status: decoded ? 'ok' : f.unreadable ? `UNKNOWN: ${f.header as string} as ${describeUser(process.geteuid?.() ?? 0)}; drain marks, health and counters cannot be shown${process.geteuid?.() === 0 ? '' : ' (run this as the user postbal runs as under Postfix, or as root)'}` : (f.header as string),
      samePool: f.samePool,
      ...(decoded ? { seq: decoded.state.seq, countersSince: new Date(decoded.state.statsSince).toISOString(), memoSlots: decoded.memoSlots } : {}),
    },
    activePriority: f.eligible?.priority ?? null,
    warmup: f.warm,
    suspensions: pool && trouble
      ? trouble.suspensions.filter((x) => x.untilMs > nowMs).flatMap((x) => pool.transports.filter((_, i) => hashLo(pool.memberHashes[i]!) === x.id).map((t) => ({
        transport: t.value, destination: x.destination, until: new Date(x.untilMs).toISOString(), reason: x.reason,
      })))
      : [],
    transports: transportRows(f),
    ...(pool?.fleet && f.path ? { fleet: fleetReport(pool, f.path, nowMs)! } : {}),
  };
  return { report, code: !f.own ? EX.CONFIG : f.unreadable ? EX.NOPERM : EX.OK };
}

/** What status reads, once: the config (or the last good copy), the state file, and the eligibility they give now. */
interface StatusFacts {
  readonly own: PoolConfig | undefined;
  readonly lastGood: LastGoodConfig | undefined;
  readonly pool: PoolConfig | undefined;
  readonly path: string | null;
  readonly header: DecodedHeader | string;
  readonly decoded: DecodedHeader | undefined;
  /** A file that is there but cannot be read: drain marks, health and counters are unknown, not absent. */
  readonly unreadable: boolean;
  /** Counters belong to this pool only when the fingerprint matches. */
  readonly samePool: boolean;
  readonly trouble: TroubleState | undefined;
  readonly warm: WarmupStatus[];
  readonly flags: readonly number[];
  readonly eligible: Eligible | undefined;
  readonly nowMs: number;
}

function readFacts(configFile: string, statePath: string, err: (s: string) => void): StatusFacts {
  const own: PoolConfig | undefined = loadConfigFor(configFile, err)?.pool;
  const fallback = own ? undefined : lastGoodPool(statePath);
  const pool = own ?? fallback?.pool;
  const path = statePath === 'none' ? null : resolve(statePath);
  const header: DecodedHeader | string = path === null ? 'none (each instance balances on its own)' : refusal(path) ?? inspectStateFile(path);
  const decoded = typeof header === 'string' ? undefined : header;
  // Drain marks are found by each transport's value, as a serving instance finds them.
  const carried = pool && decoded ? carryOver(decoded, pool, 0) : undefined;
  const nowMs = Date.now();
  const warm = pool ? warmupStatus(pool, carried?.warmup ?? [], nowMs) : [];
  // Caps as of now (the stored flag is as of the last new answer; hours and days have moved on since).
  const cappedNow = (i: number): boolean => warm.some((w) => w.transport === pool!.transports[i]!.value && w.provider === null && w.allowedNow !== null && w.today >= w.allowedNow);
  const flags = (carried ? carried.transports.map((t) => t.flags) : (pool?.transports.map(() => 0) ?? [])).map((f, i) => (cappedNow(i) ? f | CAPPED : f & ~CAPPED));
  const trouble = decoded && path !== null && decoded.state.troubleGen > 0 ? inspectTrouble(path, decoded.memoSlots) : undefined;
  const eligible = pool
    ? eligibleMembers(pool.transports.map((t) => t.weight), pool.transports.map((t) => t.priority), flags.map((f, i) => {
      const h = healthOf(pool, trouble, i);
      return h ? { flags: f, health: h } : { flags: f };
    }), RULES, nowMs)
    : undefined;
  return {
    own, lastGood: fallback?.kept, pool, path, header, decoded, trouble, warm, flags, eligible, nowMs,
    unreadable: typeof header === 'string' && header.startsWith('cannot open state file'),
    samePool: pool !== undefined && decoded !== undefined && decoded.fingerprint === pool.fingerprint,
  };
}

function healthOf(pool: PoolConfig, trouble: TroubleState | undefined, i: number): TransportHealth | undefined {
  return trouble?.health.find((h) => h.id === hashLo(pool.memberHashes[i]!));
}

/** One row per transport of the pool in force. */
function transportRows(f: StatusFacts): StatusReport['transports'] {
  const { pool, eligible, flags, trouble, nowMs } = f;
  if (!pool) return [];
  const eligibleWeight = eligible ? eligible.weights.reduce((s, w, i) => s + (eligible.members[i] ? w : 0), 0) : 0;
  const counters = f.samePool ? f.decoded!.state.transports : undefined;
  const picked = counters ? counters.reduce((s, c) => s + c.picks, 0) : 0;
  const tierWeight = (p: number): number => pool.transports.filter((t) => t.priority === p).reduce((s, t) => s + t.weight, 0);
  return pool.transports.map((t, i) => ({
    transport: t.value,
    weight: t.weight,
    priority: t.priority,
    drained: f.unreadable ? null : isDrained(flags[i]!),
    capped: (flags[i]! & CAPPED) !== 0,
    active: eligible?.members[i] === true,
    targetShare: t.weight / tierWeight(t.priority),
    effectiveShare: eligible?.members[i] ? eligible.weights[i]! / eligibleWeight : 0,
    health: f.unreadable ? 'unknown' : describeHealth(healthOf(pool, trouble, i), nowMs),
    suspendedFor: trouble ? trouble.suspensions.filter((x) => x.untilMs > nowMs && x.id === hashLo(pool.memberHashes[i]!)).map((x) => x.destination) : [],
    picks: counters ? counters[i]!.picks : null,
    actualShare: counters && picked > 0 ? counters[i]!.picks / picked : null,
    repeats: counters ? counters[i]!.repeats : null,
  }));
}

/** Every transport's one state, most limiting first: the state column of status, metrics' postbal_transport_state, check-health's verdicts. */
export const TRANSPORT_STATES = ['active', 'standby', 'drained', 'capped', 'down', 'trial', 'ramp', 'suspended', 'unknown'] as const;
export type TransportState = (typeof TRANSPORT_STATES)[number];

export function stateOf(t: StatusReport['transports'][number]): TransportState {
  if (t.drained === null) return 'unknown';
  if (t.drained) return 'drained';
  if (t.capped) return 'capped';
  if (t.health.startsWith('down')) return 'down';
  if (t.health === 'trial') return 'trial';
  if (t.health.startsWith('ramping')) return 'ramp';
  if (t.suspendedFor.length > 0) return 'suspended';
  return t.active ? 'active' : 'standby';
}

/** The state column as status prints it. */
function markOf(t: StatusReport['transports'][number]): string {
  const state = stateOf(t);
  if (state === 'suspended') return `SUSP(${t.suspendedFor.length})`;
  return state === 'active' || state === 'standby' ? state : state.toUpperCase();
}

const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

export function runStatus(configFile: string, statePath: string, json: boolean, out: (s: string) => void, err: (s: string) => void): number {
  const { report, code } = statusReport(configFile, statePath, err);
  if (json) {
    out(`${JSON.stringify(report, null, 2)}\n`);
    return code;
  }
  const { config, state } = report;
  if (config.lastGood) {
    out(`WARNING: ${config.file} cannot be loaded (above); serving instances use the last good copy, ${config.lastGood.path},\n`);
    out(`         loaded from ${config.lastGood.source} at ${config.lastGood.loadedAt} (sha256 ${config.lastGood.sha256.slice(0, 12)}); what follows is that copy\n`);
  }
  out(`configuration: ${config.file}${config.valid ? '' : config.lastGood ? ' (INVALID; last good copy in use)' : ' (INVALID)'}${config.algorithm === undefined ? '' : `, algorithm ${config.algorithm}, fallback ${config.fallback ?? 'none ("not found")'}`}\n`);
  out(`state file:    ${state.path ?? 'none'}${state.status === 'ok' ? '' : ` (${state.status})`}\n`);
  if (state.seq !== undefined) out(`position:      ${state.seq} picks since the state was created; counters since ${state.countersSince}\n`);
  if (state.status === 'ok' && !state.samePool && config.algorithm !== undefined) out('note:          the state was written for a different pool; the next lookup starts fresh counters (drain marks are kept)\n');
  if (config.algorithm === undefined) return code;
  out(report.activePriority === null
    ? `active:        NONE, every transport is drained: lookups answer ${config.fallback ?? '"not found"'}\n`
    : `active:        priority ${report.activePriority}\n`);
  const width = Math.max(9, ...report.transports.map((t) => t.transport.length));
  out(`\n  ${'transport'.padEnd(width)}  prio  weight  target     now  state       picks  actual   repeats\n`);
  for (const t of [...report.transports].sort((a, b) => a.priority - b.priority)) {
    const mark = markOf(t);
    out(`  ${t.transport.padEnd(width)}  ${String(t.priority).padStart(4)}  ${String(t.weight).padStart(6)}  ${pct(t.targetShare).padStart(6)}  ${pct(t.effectiveShare).padStart(6)}  ${mark.padEnd(7)}  ${String(t.picks ?? '-').padStart(8)}  ${pct(t.actualShare).padStart(6)}  ${String(t.repeats ?? '-').padStart(8)}\n`);
  }
  if (report.warmup.length > 0) out(`\nwarm-up (postbal warmup-stage sets a stage${report.fleet ? '; counts are this host\'s, the fleet\'s are under fleet below' : ''}):\n${report.warmup.map((w) => `  ${w.transport}  ${describeWarmup(w, report.warmup.some((x) => x.provider !== null))}\n`).join('')}`);
  const notes = report.transports.filter((t) => t.health !== 'up');
  if (notes.length > 0) out(`\nhealth (postbal feedback):\n${notes.map((t) => `  ${t.transport}  ${t.health}\n`).join('')}`);
  if (report.transports.some((t) => t.suspendedFor.length > 0 && markOf(t).startsWith('SUSP'))) out('\nSUSP(n): suspended for n destinations (below), which get none of its mail; "now" is its share for the others\n');
  if (report.suspensions.length > 0) {
    out(`\nsuspended (postbal feedback; postbal clear-suspension ends one):\n${report.suspensions.map((x) => `  ${x.transport}  for ${printable(x.destination)} until ${x.until}: ${printable(x.reason)}\n`).join('')}`);
  }
  if (report.fleet) printFleet(report.fleet, out);
  return code;
}
