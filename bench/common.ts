import { spawn } from 'node:child_process';
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
