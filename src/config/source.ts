import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { parseConfig, type ParsedConfig } from './parse.js';
import { untrustedConfigProblem } from './trust.js';
import type { PoolConfig } from './types.js';

/** A config file larger than this is refused (nobody balances over a megabyte of transports). */
export const MAX_CONFIG_BYTES = 1 << 20;
/** How often a serving instance looks at the file for changes; well inside the 1 s promise. */
export const RELOAD_CHECK_MS = 500;

/**
 * Reads a config file safely: never blocks on a FIFO, refuses devices and
 * huge files.
 * @throws ConfigError naming the file and what was wrong
 */
export function readConfigFile(file: string): ParsedConfig {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError([{ file, line: 0, field: 'file', expected: 'a readable config file', received: code === 'ENOENT' ? 'no such file' : code }]);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError([{ file, line: 0, field: 'file', expected: 'a regular file', received: 'a directory, FIFO or device' }]);
    const untrusted = untrustedConfigProblem(st, file, 'another local user could send mail through any transport');
    if (untrusted) throw new ConfigError([untrusted]);
    if (st.size > MAX_CONFIG_BYTES) throw new ConfigError([{ file, line: 0, field: 'file', expected: `at most ${MAX_CONFIG_BYTES} bytes`, received: `${st.size} bytes` }]);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return parseConfig(buf.toString('utf8', 0, off), file);
  } finally {
    closeSync(fd);
  }
}

function signatureOf(file: string): string {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

export interface ConfigEvents {
  loaded(parsed: ParsedConfig, first: boolean): void;
  failed(error: ConfigError, keptLastGood: boolean): void;
}

/**
 * The config of a serving instance: loaded at start, re-read when the file
 * changes (checked at most every RELOAD_CHECK_MS, on demand before a lookup),
 * and kept at its last good version when an edit breaks it.
 */
export class ConfigSource {
  readonly file: string;
  readonly #events: ConfigEvents;
  #pool: PoolConfig | undefined;
  #signature = '';
  #checkedAt = -Infinity;

  constructor(file: string, events: ConfigEvents) {
    this.file = file;
    this.#events = events;
  }

  /** The config in force, or undefined when no good config was ever read. */
  current(): PoolConfig | undefined {
    return this.#pool;
  }

  /** Re-reads the file if it changed; `force` skips the rate limit. */
  refresh(nowMs: number, force = false): void {
    if (!force && nowMs - this.#checkedAt < RELOAD_CHECK_MS) return;
    this.#checkedAt = nowMs;
    const sig = signatureOf(this.file);
    if (sig === this.#signature) return;
    this.#signature = sig;
    try {
      const parsed = readConfigFile(this.file);
      const first = this.#pool === undefined;
      this.#pool = parsed.pool;
      this.#events.loaded(parsed, first);
    } catch (err) {
      const error = err instanceof ConfigError
        ? err
        : new ConfigError([{ file: this.file, line: 0, field: 'file', expected: 'a readable config file', received: String(err) }]);
      this.#events.failed(error, this.#pool !== undefined);
    }
  }
}
