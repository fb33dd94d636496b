import { readFileSync, statSync } from 'node:fs';
import type * as IORedis from 'ioredis';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import type { FleetConfig } from '../config/types.js';
import { untrustedConfigProblem } from '../config/trust.js';
import { ConfigError } from '../errors.js';
import { lazyRequire } from '../lazy-require.js';
import type { FactRecord } from './reconcile.js';
import { validFact } from './facts.js';
import { EPOCH, RATE_LEASE, READ_HASH, WARM_LEASE } from './scripts.js';

/**
 * The fleet's Redis, through ioredis (chosen by measurement against
 * node-redis: bench/fleet-clients.ts). One connection per host, held by the
 * fleet agent; lookups never reach it. Commands fail at once while it is
 * away (no offline queue) and after `commandTimeout` when it hangs, so the
 * agent notices and every host serves from what it knew.
 */

export const MAX_FACTS = 4096;
export const MAX_HOSTS = 256;
const MAX_VALUE_BYTES = 1200;

export interface HostSeen {
  readonly host: string;
  readonly version: string;
  readonly seenMs: number;
}

export interface WarmGrant {
  readonly stage: number;
  /** -1: warmed, no cap. */
  readonly grant: number;
  readonly count: number;
  readonly reserved: number;
  readonly day: number;
}

type Scripted = RedisClient & {
  pbReadHash(key: string, max: number, bytes: number): Promise<string[]>;
  pbEpoch(key: string, id: string): Promise<string>;
  pbWarm(key: string, epoch: string, ...args: (string | number)[]): Promise<number[]>;
  pbRate(key: string, epoch: string, ...args: (string | number)[]): Promise<number[]>;
};

/** Loads ioredis (kept out of the bundle: only the fleet agent needs it) before the process changes identity. */
export function loadFleetLibrary(): typeof IORedis {
  return lazyRequire<typeof IORedis>('ioredis');
}

/** `PASSWORD` or `USER PASSWORD` from a file only root (or this user) can write and nobody else can read. */
export function readPasswordFile(file: string): { username?: string; password: string } {
  const st = statSync(file);
  const untrusted = untrustedConfigProblem(st, file, 'it holds the fleet\'s Redis password');
  if (untrusted) throw new ConfigError([untrusted]);
  if ((st.mode & 0o077) !== 0) {
    throw new ConfigError([{ file, line: 0, field: 'mode', expected: 'readable by its owner only (chmod 600): it holds a password', received: (st.mode & 0o7777).toString(8) }]);
  }
  const words = readFileSync(file, 'utf8').trim().split(/\s+/);
  if (words.length < 1 || words.length > 2 || words[0] === '' || words.some((w) => w.length > 256)) {
    throw new ConfigError([{ file, line: 1, field: 'password', expected: 'one line: PASSWORD, or USER PASSWORD for a Redis ACL user', received: `${words.length} words` }]);
  }
  return words.length === 2 ? { username: words[0]!, password: words[1]! } : { password: words[0]! };
}

export function redisOptions(fleet: FleetConfig): RedisOptions {
  const u = new URL(fleet.url);
  const auth: { username?: string; password?: string } = fleet.passwordFile ? readPasswordFile(fleet.passwordFile) : {};
  const base: RedisOptions = {
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...auth,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: () => 500,
    ...(u.protocol === 'rediss:' ? { tls: { servername: u.hostname, ...(fleet.tlsCa ? { ca: readFileSync(fleet.tlsCa) } : {}) } } : {}),
  };
  if (fleet.sentinel) return { ...base, sentinels: fleet.sentinel.nodes.map((n) => ({ ...n })), name: fleet.sentinel.master, ...(auth.password ? { sentinelPassword: auth.password } : {}) };
  return { ...base, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 6379 : Number(u.port) };
}

function decodeRecord(field: string, text: string): FactRecord | undefined {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof r !== 'object' || r === null) return undefined;
  const { at, host, v } = r as Record<string, unknown>;
  if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) return undefined;
  if (typeof host !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(host)) return undefined;
  if (v !== null && (typeof v !== 'string' || !validFact(field, v))) return undefined;
  return { at, host, v };
}

export class FleetStore {
  readonly #redis: Scripted;
  readonly #prefix: string;
  /** Why the connection failed last, when it did (cleared when it is ready). */
  lastError: string | undefined;

  constructor(fleet: FleetConfig) {
    const { Redis } = loadFleetLibrary();
    const redis = new Redis(redisOptions(fleet)) as Scripted;
    redis.defineCommand('pbReadHash', { numberOfKeys: 1, lua: READ_HASH });
    redis.defineCommand('pbEpoch', { numberOfKeys: 1, lua: EPOCH });
    redis.defineCommand('pbWarm', { numberOfKeys: 2, lua: WARM_LEASE });
    redis.defineCommand('pbRate', { numberOfKeys: 2, lua: RATE_LEASE });
    // Errors reach the agent through the failing command (an unhandled 'error' event would end the
    // process); the last one is kept, as a command only says "Connection is closed." (a TLS refusal).
    redis.on('error', (err: Error) => { this.lastError = err.message; });
    redis.on('ready', () => { this.lastError = undefined; });
    this.#redis = redis;
    this.#prefix = `${fleet.name}:`;
  }

  key(name: string): string {
    return this.#prefix + name;
  }

  async connect(): Promise<void> {
    if (this.#redis.status === 'wait') await this.#redis.connect();
    else if (this.#redis.status !== 'ready') throw new Error(`the store is ${this.#redis.status}`);
  }

  epoch(id: string): Promise<string> {
    return this.#redis.pbEpoch(this.key('epoch'), id);
  }

  /** The fleet's fact records, invalid ones left out (counted). */
  async readFacts(): Promise<{ records: Map<string, FactRecord>; invalid: number }> {
    const raw = await this.#redis.pbReadHash(this.key('facts'), MAX_FACTS, MAX_VALUE_BYTES);
    if (raw[0] === '!') throw new Error(`${this.key('facts')} holds ${String(raw[1])} fields, more than ${MAX_FACTS}: not read`);
    const records = new Map<string, FactRecord>();
    let invalid = 0;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const rec = decodeRecord(raw[i]!, raw[i + 1]!);
      if (rec) records.set(raw[i]!, rec);
      else invalid++;
    }
    return { records, invalid };
  }

  async writeFacts(publish: ReadonlyMap<string, FactRecord>, forget: readonly string[]): Promise<void> {
    if (publish.size === 0 && forget.length === 0) return;
    const p = this.#redis.pipeline();
    if (publish.size > 0) p.hset(this.key('facts'), Object.fromEntries([...publish].map(([f, r]) => [f, JSON.stringify(r)])));
    if (forget.length > 0) p.hdel(this.key('facts'), ...forget);
    const results = await p.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0]!;
  }

  async heartbeat(host: string, version: string, nowMs: number): Promise<HostSeen[]> {
    await this.#redis.hset(this.key('hosts'), host, JSON.stringify({ version, seenMs: nowMs }));
    const raw = await this.#redis.pbReadHash(this.key('hosts'), MAX_HOSTS, 200);
    const hosts: HostSeen[] = [];
    for (let i = 0; i + 1 < raw.length && raw[0] !== '!'; i += 2) {
      try {
        const r = JSON.parse(raw[i + 1]!) as { version?: unknown; seenMs?: unknown };
        if (/^[A-Za-z0-9._-]{1,64}$/.test(raw[i]!) && typeof r.version === 'string' && /^[\x20-\x7e]{1,40}$/.test(r.version) && Number.isSafeInteger(r.seenMs)) {
          hosts.push({ host: raw[i]!, version: r.version, seenMs: r.seenMs as number });
        }
      } catch {
        // Not a host record of ours: left out.
      }
    }
    return hosts;
  }

  async warmLease(idHex: string, args: readonly (string | number)[]): Promise<WarmGrant | undefined> {
    const r = await this.#redis.pbWarm(this.key(`warm:${idHex}`), this.key('epoch'), ...args);
    if (!Array.isArray(r) || r.length !== 6 || r[5] !== 1 || !r.every((x) => Number.isSafeInteger(x))) return undefined;
    const [stage, grant, count, reserved, day] = r as [number, number, number, number, number];
    return { stage, grant, count, reserved, day };
  }

  async rateLease(idHex: string, args: readonly (string | number)[]): Promise<number | undefined> {
    const r = await this.#redis.pbRate(this.key(`rate:${idHex}`), this.key('epoch'), ...args);
    return Array.isArray(r) && r[1] === 1 && Number.isSafeInteger(r[0]) && r[0]! >= 0 ? r[0] : undefined;
  }

  close(): void {
    this.#redis.disconnect();
  }
}
