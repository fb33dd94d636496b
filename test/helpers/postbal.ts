import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built binary, run as a child process exactly as users run it. */
export const BIN = resolve(fileURLToPath(new URL('../../../bin/postbal', import.meta.url)));
export const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Runs postbal with `input` on stdin (written in pieces of `chunk` bytes when given). */
export function runPostbal(args: readonly string[], input: string | Buffer, opts: { chunk?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: opts.env ?? { PATH: '/usr/bin:/bin' }, stdio: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`postbal ${args.join(' ')} timed out`));
    }, opts.timeoutMs ?? 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('utf8'), code, signal });
    });
    child.stdin.on('error', () => undefined);
    const data = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    if (!opts.chunk) {
      child.stdin.end(data);
      return;
    }
    const size = opts.chunk;
    let off = 0;
    const pump = (): void => {
      if (off >= data.length) {
        child.stdin.end();
        return;
      }
      child.stdin.write(data.subarray(off, off + size), () => setImmediate(pump));
      off += size;
    };
    pump();
  });
}

/** Instances still running when a test file ends (a failed test) are killed, never left to hang the run. */
const LIVE = new Set<ChildProcessWithoutNullStreams>();
process.on('exit', () => {
  for (const c of LIVE) c.kill('SIGKILL');
});

/** A long-running instance driven one request at a time, as Postfix drives it. */
export class Interactive {
  readonly child: ChildProcessWithoutNullStreams;
  #buf = '';
  #waiters: ((line: string) => void)[] = [];
  stderr = '';

  /** @param opts another copy of the binary, a user to run as, extra environment */
  constructor(args: readonly string[], opts: { bin?: string; uid?: number; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
      env: { PATH: '/usr/bin:/bin', ...opts.env },
      stdio: 'pipe',
      ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid, cwd: '/' }),
    });
    LIVE.add(this.child);
    this.child.on('exit', () => LIVE.delete(this.child));
    this.child.stdout.setEncoding('latin1');
    this.child.stdout.on('data', (d: string) => {
      this.#buf += d;
      for (;;) {
        const nl = this.#buf.indexOf('\n');
        if (nl < 0 || this.#waiters.length === 0) break;
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        this.#waiters.shift()!(line);
      }
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.child.stdin.on('error', () => undefined);
  }

  /** Sends one request line and resolves with the reply line (without LF). */
  ask(line: string, timeoutMs = 120_000): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(line)} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((reply) => {
        clearTimeout(timer);
        resolvePromise(reply);
      });
      this.child.stdin.write(`${line}\n`);
      // A reply may already be buffered.
      this.child.stdout.emit('data', '');
    });
  }

  /** Closes stdin and resolves with the exit code. */
  end(): Promise<number | null> {
    return new Promise((resolvePromise) => {
      if (this.child.exitCode !== null) {
        resolvePromise(this.child.exitCode);
        return;
      }
      this.child.on('close', (code) => resolvePromise(code));
      this.child.stdin.end();
    });
  }

  kill(): Promise<void> {
    return new Promise((resolvePromise) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        resolvePromise();
        return;
      }
      this.child.on('close', () => resolvePromise());
      this.child.kill('SIGKILL');
    });
  }
}

/** A private temporary directory (mode 0700), removed by `cleanup`. */
export function tempDir(): { dir: string; file: (name: string, content?: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'postbal-test-'));
  return {
    dir,
    file(name, content) {
      const p = join(dir, name);
      if (content !== undefined) writeFileSync(p, content);
      return p;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const POOL_321 = '# test pool\n{3}smtp0:\n{2}smtp1:\n{1}smtp2:\n';

/** Counts replies per transport in a stdout transcript. */
export function countReplies(stdout: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    if (!line) continue;
    counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  return counts;
}

export function keys(prefix: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `get ${prefix}${i}@example.com\n`;
  return s;
}

/** Copies what postbal needs at run time to a place user `nobody` can read. */
export function installPostbalCopy(dest: string): string {
  mkdirSync(join(dest, 'bin'), { recursive: true });
  mkdirSync(join(dest, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'bin/postbal'), join(dest, 'bin/postbal'));
  cpSync(join(ROOT, 'bin/package.json'), join(dest, 'bin/package.json'));
  cpSync(join(ROOT, 'dist/postbal.cjs'), join(dest, 'dist/postbal.cjs'));
  cpSync(join(ROOT, 'package.json'), join(dest, 'package.json'));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [path, meta] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || meta.dev) continue;
    cpSync(join(ROOT, path), join(dest, path), { recursive: true });
  }
  return join(dest, 'bin/postbal');
}


/**
 * Running postbal as user nobody, as Postfix does (the tests run as root):
 * `dir` opened for reading, a copy of the program nobody can read, and
 * helpers for the files and directories a test gives it.
 */
export class AsNobody {
  readonly uid: number;
  readonly bin: string;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    chmodSync(dir, 0o755);
    this.uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    this.bin = installPostbalCopy(join(dir, 'app'));
  }

  /** A file nobody can read but not write (root's, mode 0644). */
  readable(name: string, content: string): string {
    const p = join(this.#dir, name);
    writeFileSync(p, content, { mode: 0o644 });
    chmodSync(p, 0o644);
    return p;
  }

  /** A directory of nobody's, mode 0700, as the README recommends for the state. */
  ownDir(name: string): string {
    const p = join(this.#dir, name);
    mkdirSync(p, { mode: 0o700 });
    chownSync(p, this.uid, this.uid);
    return p;
  }

  /** Runs postbal as nobody with `input` on stdin. */
  run(args: readonly string[], input: string): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, [this.bin, ...args], { input, encoding: 'utf8', uid: this.uid, gid: this.uid, env: { PATH: '/usr/bin:/bin' }, cwd: '/' });
  }
}

/**
 * Asks `request` again and again until `done(reply)` holds: for what happens
 * at postbal's next 1 s re-check, without a sleep that a busy machine
 * outruns. Fails after `guardMs` (a guard against a hang, not a deadline).
 */
export async function askUntil(p: Interactive, request: string, done: (reply: string) => boolean, guardMs = 120_000): Promise<string> {
  const start = Date.now();
  for (;;) {
    const reply = await p.ask(request);
    if (done(reply)) return reply;
    if (Date.now() - start > guardMs) throw new Error(`still ${JSON.stringify(reply)} for ${JSON.stringify(request)} after ${guardMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
