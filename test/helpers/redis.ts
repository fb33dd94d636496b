/** A private redis-server for fleet tests and labs (Debian package redis-server, installed when root). */
import { existsSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';
import { watchText } from './daemon.js';
import { ensureDebianPackage, packageUnavailable } from '../e2e/lab.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** redis-server from Debian (lab.ts's installer); the package's own system-wide server is stopped: the tests run private ones. */
export function ensureRedis(): string | undefined {
  const had = existsSync(REDIS_SERVER);
  const why = ensureDebianPackage('redis-server', REDIS_SERVER);
  if (!had && why === undefined) spawnSync('systemctl', ['stop', 'redis-server'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  return why;
}

/** True when Redis cannot be had, after saying so loudly (a skip, never a pass; under CI a failure). */
export function redisUnavailable(t: TestContext, what: string): boolean {
  ensureRedis();
  return packageUnavailable(t, 'redis-server', REDIS_SERVER, what);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  readonly port: number;
  child: ChildProcess;
  /** SIGKILL, then the same port, empty (nothing saved). */
  restartEmpty(): Promise<void>;
  kill(): Promise<void>;
  stop(): void;
  cont(): void;
  cli(...args: string[]): string;
}

async function launch(port: number): Promise<ChildProcess> {
  // In /tmp: nothing is saved, but a server writes where it runs when asked to (never the checkout).
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', '/tmp'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/tmp' });
  const out = watchText(child.stdout, child.stderr);
  await out.waitFor(/Ready to accept connections/, 60_000);
  return child;
}

export async function startRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const r: PrivateRedis = {
    port,
    child: await launch(port),
    kill: () => new Promise<void>((resolve) => {
      if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
      r.child.once('exit', () => resolve());
      r.child.kill('SIGCONT');
      r.child.kill('SIGKILL');
    }),
    restartEmpty: async () => {
      await r.kill();
      r.child = await launch(port);
    },
    stop: () => { r.child.kill('SIGSTOP'); },
    cont: () => { r.child.kill('SIGCONT'); },
    cli: (...args) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim(),
  };
  process.on('exit', () => { r.child.kill('SIGCONT'); r.child.kill('SIGKILL'); });
  return r;
}
