import type { ChildProcess } from 'node:child_process';
import { lazyRequire } from '../lazy-require.js';
import { isExecutable } from '../sys/files.js';
import { neutraliseMessage, priority } from './format.js';
import type { Level, Logger } from './types.js';
import type * as ChildProcesses from 'node:child_process';

/**
 * The local syslog daemon, reached through /dev/log.
 *
 * /dev/log is a Unix datagram socket and Node (libuv) cannot open one
 * without a native addon; syslog-pro speaks only UDP/TCP/TLS. util-linux
 * `logger`, present on every Debian/Ubuntu host (package bsdutils, which is
 * Essential), does exactly this: one long-lived child per instance reads our
 * lines with a `<PRI>` prefix and sends each as one datagram with the right
 * ident, pid and a correct RFC 3164 timestamp.
 *
 * The child is started after a short delay, so it costs nothing before the
 * first reply; its stdout and stderr go nowhere (under spawn(8) ours are the
 * Postfix connection). When it cannot keep up, lines are dropped, counted, and
 * the count is logged once it drains.
 */

const LOGGER_PATHS = ['/usr/bin/logger', '/bin/logger'];
/** Beyond this much unsent text, new lines are dropped rather than buffered. */
const MAX_BUFFERED_BYTES = 1 << 20;
const START_DELAY_MS = 25;
const FLUSH_MS = 100;
const FLUSH_BYTES = 64 * 1024;
/** How long an instance at EOF waits at most for logger to take its last lines. */
const CLOSE_GRACE_MS = 2000;
/** At EOF, logger taking nothing for this long counts as stalled. */
const CLOSE_CHECK_MS = 50;

/**
 * Sends one message and waits until logger has taken it: for the last words
 * of a process about to exit (a usage error under spawn(8), where stderr is
 * Postfix's connection). The queued logger of LocalSyslog starts after a
 * delay and would be gone with the process. At most 2 s; never throws.
 */
export function logBeforeExit(opts: LocalSyslogOptions, level: Level, message: string): void {
  const bin = LOGGER_PATHS.find(isExecutable);
  if (!bin) return;
  try {
    lazyRequire<typeof ChildProcesses>('node:child_process').spawnSync(bin, loggerArgs(opts), {
      input: `<${priority(level)}>${neutraliseMessage(message)}\n`,
      stdio: ['pipe', 'ignore', 'ignore'],
      timeout: 2000,
    });
  } catch {
    // Nowhere left to say it.
  }
}

function loggerArgs(opts: LocalSyslogOptions): string[] {
  return [
    '--prio-prefix', '-p', 'mail.info', '-t', opts.tag, `--id=${opts.pid}`, '--size', '4096',
    '--socket-errors=off', '-u', opts.socket ?? '/dev/log',
  ];
}

export interface LocalSyslogOptions {
  readonly tag: string;
  readonly pid: number;
  /** Datagram socket path; /dev/log unless testing. */
  readonly socket?: string;
}

export class LocalSyslog implements Logger {
  readonly #opts: LocalSyslogOptions;
  #child: ChildProcess | undefined;
  #dead = false;
  #pending: string[] = [];
  #pendingBytes = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushScheduled = false;
  #closing = false;

  constructor(opts: LocalSyslogOptions) {
    this.#opts = opts;
  }

  log(level: Level, message: string): void {
    if (this.#dead) return;
    if (this.#pendingBytes > MAX_BUFFERED_BYTES || (this.#child?.stdin?.writableLength ?? 0) > MAX_BUFFERED_BYTES) {
      this.#dropped++;
      return;
    }
    if (this.#dropped > 0) {
      const n = this.#dropped;
      this.#dropped = 0;
      this.#queue(`<${priority('warning')}>syslog was too slow: ${n} log lines dropped\n`);
    }
    this.#queue(`<${priority(level)}>${neutraliseMessage(message)}\n`);
  }

  /**
   * Lines are written to logger together, at most every FLUSH_MS (or at once
   * past FLUSH_BYTES): under Postfix every lookup is its own event, and a
   * write per line wakes the logger process per lookup, a cost measured on
   * the mail path (README, design notes).
   */
  #queue(line: string): void {
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    if (this.#child) {
      if (this.#pendingBytes >= FLUSH_BYTES) {
        this.#flush();
      } else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setTimeout(() => this.#flush(), FLUSH_MS).unref();
      }
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#start(), START_DELAY_MS);
      this.#timer.unref();
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0 || !this.#child?.stdin) return;
    const text = this.#pending.join('');
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#child.stdin.write(text);
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#closing = true;
    if (!this.#child && this.#pending.length > 0) this.#start();
    this.#flush();
    const child = this.#child;
    child?.stdin?.end();
    if (!child) return;
    // A write still pending in the pipe keeps the process alive, unref or
    // not; a stalled syslog daemon (logger blocked on its socket) would keep
    // an instance alive after EOF forever. While logger takes lines it gets
    // up to CLOSE_GRACE_MS; once it takes none for a check interval, the
    // rest is dropped and logger is stopped.
    if (this.#dropped > 0) {
      // Already dropping lines: logger has been stuck for a while.
      child.stdin?.destroy();
      child.kill('SIGKILL');
      return;
    }
    const started = Date.now();
    let last = child.stdin?.writableLength ?? 0;
    const check = setInterval(() => {
      const left = child.stdin?.writableLength ?? 0;
      if (left > 0 && left === last) {
        clearInterval(check);
        child.stdin?.destroy();
        child.kill('SIGKILL');
      } else if (left === 0 || Date.now() - started > CLOSE_GRACE_MS) {
        clearInterval(check);
        if (left > 0) {
          child.stdin?.destroy();
          child.kill('SIGKILL');
        }
      }
      last = left;
    }, CLOSE_CHECK_MS);
    check.unref();
  }

  #start(): void {
    this.#timer = undefined;
    if (this.#child || this.#dead) return;
    // Loaded here, not at start: node:child_process costs start-up time.
    const { spawn } = lazyRequire<typeof ChildProcesses>('node:child_process');
    const bin = LOGGER_PATHS.find(isExecutable);
    if (!bin) {
      this.#dead = true;
      this.#pending = [];
      return;
    }
    const args = loggerArgs(this.#opts);
    let child: ChildProcess;
    try {
      child = spawn(bin, args, { stdio: ['pipe', 'ignore', 'ignore'], detached: false });
    } catch {
      this.#dead = true;
      return;
    }
    child.on('error', () => {
      this.#dead = true;
    });
    child.on('exit', () => {
      this.#child = undefined;
      this.#dead = true;
    });
    child.stdin?.on('error', () => {
      this.#dead = true;
    });
    child.unref();
    // The pipe must not keep an instance alive after EOF on its own stdin.
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.#child = child;
    this.#flush();
    if (this.#closing) child.stdin?.end();
  }
}
