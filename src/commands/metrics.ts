import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import type { Registry } from 'prom-client';
import { EX } from '../errors.js';
import type { Logger } from '../log/types.js';
import { readBoardFile } from '../policy/board.js';
import { writeFileAtomicSync } from '../state/atomic-write.js';
import { inspectTally } from '../state/inspect.js';
import { readLastGood } from '../state/last-good.js';
import { policyStatusReport } from './policy-status.js';
import { statusReport } from './status.js';
import { collect } from './metrics/collect.js';

/**
 * `postbal metrics`: the pool, the shared state and the counters every
 * instance keeps, in Prometheus' text format, read afresh at each scrape:
 * served on --listen, written for node_exporter's textfile collector
 * (--textfile), or printed once.
 */
export interface MetricsOptions {
  readonly configFile: string;
  readonly statePath: string;
  /** The policy board, or undefined: none. */
  readonly policyState: string | undefined;
  readonly version: string;
  readonly logger: Logger;
}

/** The name node_exporter's textfile collector reads in --textfile DIR. */
export const TEXTFILE_NAME = 'postbal.prom';

/** One scrape's registry. Never throws for what it reads: a fact it cannot read is a metric saying so. */
export function scrape(o: MetricsOptions, onProblem: (s: string) => void = () => undefined): Registry {
  const { report } = statusReport(o.configFile, o.statePath, onProblem);
  const statePath = o.statePath === 'none' ? undefined : resolve(o.statePath);
  const tally = statePath && report.state.memoSlots !== undefined ? inspectTally(statePath, report.state.memoSlots) : new Map<string, number>();
  let configSha256: string | undefined;
  try {
    configSha256 = createHash('sha256').update(readFileSync(o.configFile)).digest('hex');
  } catch {
    configSha256 = undefined;
  }
  const kept = statePath ? readLastGood(statePath) : undefined;
  const configLoadedMs = kept && kept.sha256 === configSha256 ? Date.parse(kept.loadedAt) : undefined;
  let policy;
  if (o.policyState !== undefined && existsSync(o.policyState)) {
    try {
      const page = readBoardFile(o.policyState);
      policy = page ? policyStatusReport(page, o.policyState, Date.now()) : undefined;
    } catch (err) {
      onProblem(`${(err as Error).message}\n`);
    }
  }
  return collect({ version: o.version, report, tally, configSha256, configLoadedMs, policy });
}

/** `HOST:PORT` or `[IPv6]:PORT`; a string says what is wrong. */
export function parseListen(text: string): { host: string; port: number } | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) return `expected HOST:PORT (e.g. 127.0.0.1:9779 or [::1]:9779; port 0: any free port), got "${text}"`;
  return { host: m[1] ?? m[2]!, port };
}

/**
 * Serves GET /metrics until SIGTERM or SIGINT. Anything else gets 404 or 405;
 * a request may not take longer than 10 s to arrive, so a slow client cannot
 * hold the listener, and at most 64 connections are open at once.
 */
export async function runMetricsListener(o: MetricsOptions, listen: { host: string; port: number }, err: (s: string) => void): Promise<number> {
  const server: Server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000, maxHeaderSize: 8192 }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' && path !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: postbal serves /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('postbal metrics: GET /metrics\n');
      return;
    }
    const failed = (e: unknown): void => {
      // A scrape that fails is Prometheus' `up` going to 0 for one scrape, never the listener gone.
      o.logger.log('error', `metrics: a scrape failed: ${(e as Error).stack ?? String(e)}`);
      res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed (see the log)\n');
    };
    try {
      const registry = scrape(o);
      registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text), failed);
    } catch (e) {
      failed(e);
    }
  });
  server.keepAliveTimeout = 30_000;
  // Prometheus needs one connection; a client opening hundreds gets refused, not a scrape each.
  server.maxConnections = 64;
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(listen.port, listen.host, () => ok());
    });
  } catch (e) {
    err(`postbal metrics: cannot listen on ${listen.host}:${listen.port}: ${(e as Error).message}\n`);
    return EX.UNAVAILABLE;
  }
  const address = server.address();
  const where = typeof address === 'object' && address ? `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  o.logger.log('info', `metrics: serving http://${where}/metrics for ${o.configFile}, state ${o.statePath}`);
  await new Promise<void>((done) => {
    const stop = (): void => {
      server.close(() => done());
      server.closeAllConnections();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return EX.OK;
}

/** Writes DIR/postbal.prom atomically (a temp name node_exporter skips, then a rename). */
export async function writeTextfile(o: MetricsOptions, dir: string): Promise<void> {
  const text = await scrape(o).metrics();
  writeFileAtomicSync(join(dir, TEXTFILE_NAME), Buffer.from(text), 0o644);
}

/** --textfile DIR: once, or every `intervalSec` until SIGTERM. */
export async function runTextfile(o: MetricsOptions, dir: string, intervalSec: number | undefined, err: (s: string) => void): Promise<number> {
  const once = async (): Promise<boolean> => {
    try {
      await writeTextfile(o, dir);
      return true;
    } catch (e) {
      const message = `postbal metrics: cannot write ${join(dir, TEXTFILE_NAME)}: ${(e as Error).message}`;
      if (intervalSec === undefined) err(`${message}\n`);
      else o.logger.log('warning', `metrics: ${message}`);
      return false;
    }
  };
  if (intervalSec === undefined) return (await once()) ? EX.OK : EX.CANTCREAT;
  await once();
  const timer = setInterval(() => void once(), intervalSec * 1000);
  await new Promise<void>((done) => {
    const stop = (): void => {
      clearInterval(timer);
      done();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return EX.OK;
}

/** No --listen and no --textfile: print once. */
export async function printMetrics(o: MetricsOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  out(await scrape(o, err).metrics());
  return EX.OK;
}
