import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = resolve(fileURLToPath(new URL('../../bin/postbal', import.meta.url)));

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export function keyLines(prefix: string, n: number): Buffer {
  let s = '';
  for (let i = 0; i < n; i++) s += `get ${prefix}${i}@example${i % 97}.com\n`;
  return Buffer.from(s);
}

/** High-water RSS of a running process, in kB (0 once it is gone). */
export function peakRssKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface PipeRun {
  readonly ms: number;
  readonly replies: number;
  readonly peakRssKb: number;
}

/**
 * Runs `cmd args` with `input` on stdin; counts replies (lines, or netstrings
 * by their closing comma when the input is socketmap); tracks peak RSS.
 */
export function runPipe(cmd: string, args: readonly string[], input: Buffer): Promise<PipeRun> {
  const end = input[0]! >= 0x30 && input[0]! <= 0x39 ? 0x2c : 0x0a;
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: '/usr/bin:/bin' } });
    let replies = 0;
    let peak = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, peakRssKb(child.pid!));
    }, 5);
    child.stdout.on('data', (d: Buffer) => {
      for (const b of d) if (b === end) replies++;
      peak = Math.max(peak, peakRssKb(child.pid!));
    });
    child.on('error', reject);
    child.on('close', () => {
      clearInterval(poll);
      resolvePromise({ ms: performance.now() - t0, replies, peakRssKb: peak });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Time from spawn to the first reply line (or to exit, when `line` is empty). */
export function timeToFirstReply(cmd: string, args: readonly string[], line: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: '/usr/bin:/bin' } });
    child.on('error', reject);
    if (!line) {
      child.on('close', () => resolvePromise(performance.now() - t0));
      child.stdin.end();
      return;
    }
    child.stdout.once('data', () => {
      const ms = performance.now() - t0;
      child.stdin.end();
      resolvePromise(ms);
    });
    child.stdin.write(line);
  });
}

/** A helper started as spawn(8) starts it, and a client on the other end of its connection. */
export interface SocketHelper {
  readonly child: ChildProcess;
  /** Writes `text` and resolves once the replies so far end with `end`. */
  ask(text: string, end: string): Promise<void>;
  /** Closes the connection and resolves when the helper has exited. */
  close(): Promise<void>;
}

/**
 * Runs `cmd args` with one end of a TCP connection as its stdin and stdout
 * (and stderr, unless `quietStderr`), as spawn(8) does.
 */
export async function spawnOnSocket(cmd: string, args: readonly string[], quietStderr = false): Promise<SocketHelper> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  const side = await accepted;
  await new Promise<void>((r) => (client.readyState === 'open' ? r() : client.once('connect', () => r())));
  const child = spawn(cmd, args, { stdio: [side, side, quietStderr ? 'ignore' : side], env: { PATH: '/usr/bin:/bin' } });
  side.destroy();
  server.close();
  return {
    child,
    ask: askOn(client),
    close: async () => {
      client.end();
      await new Promise((r) => child.once('close', r));
    },
  };
}

/** Asking on a connection: writes `text`, resolves once the replies so far end with `end`. */
export function askOn(client: Socket): (text: string, end: string) => Promise<void> {
  let buf = '';
  let waiting: { end: string; resolve: () => void } | undefined;
  client.setEncoding('latin1');
  client.on('data', (d: string) => {
    buf += d;
    if (waiting && buf.endsWith(waiting.end)) {
      buf = '';
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  });
  return (text, end) => new Promise((resolve) => {
    waiting = { end, resolve };
    client.write(text);
  });
}
