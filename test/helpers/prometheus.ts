import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../e2e/lab.js';

/** One series of an instant or range query. */
export interface Series {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
  readonly values?: [number, string][];
}

/**
 * A private Prometheus (Debian's package), scraping the given targets every
 * second, with its own data directory; its HTTP API answers the test's
 * queries. The packaged service is never used.
 */
export class PrivatePrometheus {
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #dir: string;

  private constructor(port: number, child: ChildProcess, dir: string) {
    this.port = port;
    this.#child = child;
    this.#dir = dir;
  }

  static async start(targets: readonly string[]): Promise<PrivatePrometheus> {
    const dir = mkdtempSync('/tmp/postbal-prometheus-');
    mkdirSync(join(dir, 'data'));
    // Debian's prometheus refuses nothing as root, but its data belongs to whoever runs it: nobody, as a service would be.
    const config = ['global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', 'scrape_configs:', '  - job_name: postbal', '    static_configs:', `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`, ''].join('\n');
    writeFileSync(join(dir, 'prometheus.yml'), config);
    chmodSync(dir, 0o755);
    chownSync(join(dir, 'data'), 65534, 65534);
    const port = await freePort();
    const child = spawn('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1d', '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'], uid: 65534, gid: 65534, env: { PATH: '/usr/bin:/bin' } });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    const p = new PrivatePrometheus(port, child, dir);
    let ready = false;
    // A guard against a hang only: Prometheus is ready in a second or two.
    for (const end = Date.now() + 120_000; !ready && child.exitCode === null && Date.now() < end; await sleep(200)) {
      ready = await fetch(`http://127.0.0.1:${port}/-/ready`).then((r) => r.status === 200, () => false);
    }
    if (!ready) {
      p.stop();
      throw new Error(`prometheus did not become ready: ${err}`);
    }
    return p;
  }

  async query(expr: string): Promise<Series[]> {
    return this.#api(`query?query=${encodeURIComponent(expr)}`);
  }

  async queryRange(expr: string, startSec: number, endSec: number, stepSec: number): Promise<Series[]> {
    return this.#api(`query_range?query=${encodeURIComponent(expr)}&start=${startSec}&end=${endSec}&step=${stepSec}`);
  }

  async #api(path: string): Promise<Series[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/${path}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: Series[] } };
    if (body.status !== 'success') throw new Error(`prometheus: ${path}: ${body.error ?? res.status}`);
    return body.data!.result;
  }

  stop(): void {
    this.#child.kill('SIGKILL');
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
