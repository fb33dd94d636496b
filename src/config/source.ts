import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { readWhole } from '../sys/files.js';
import { ConfigError } from '../errors.js';
import { parseConfig, type ParsedConfig } from './parse.js';
import { untrustedConfigProblem } from './trust.js';
import { MAX_CONFIG_BYTES } from './limits.js';
import type { PoolConfig } from './types.js';

export { MAX_CONFIG_BYTES } from './limits.js';
/** How often a serving instance looks at the file for changes; well inside the 1 s promise. */
export const RELOAD_CHECK_MS = 500;

/**
 * Reads a config file safely: never blocks on a FIFO, refuses devices and
 * huge files.
 * @throws ConfigError naming the file and what was wrong
 */
export function readConfigFile(file: string): ParsedConfig {
  return parseConfig(readConfigText(file), file);
}

/**
 * The text of a config file, read safely (as readConfigFile), unparsed.
 * @throws ConfigError naming the file and what was wrong
 */
export function readConfigText(file: string): string {
  return readTrustedFile(file, { what: 'a readable config file', risk: 'another local user could send mail through any transport' }).toString('utf8');
}

/**
 * The one reader of files that decide where mail or requests go (the pool,
 * the policy services): never blocks on a FIFO, refuses devices, files that
 * another user wrote or can change (config/trust.ts), and files over
 * MAX_CONFIG_BYTES, judged by fstat before a byte is read.
 * @param what what the file should be, for messages ("a readable config file")
 * @param risk what another user could do through it, for messages
 * @throws ConfigError naming the file, what was expected and what was found
 */
export function readTrustedFile(file: string, opts: { readonly what: string; readonly risk: string }): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError([{ file, line: 0, field: 'file', expected: opts.what, received: code === 'ENOENT' ? 'no such file' : code }]);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError([{ file, line: 0, field: 'file', expected: 'a regular file', received: 'a directory, FIFO or device' }]);
    const untrusted = untrustedConfigProblem(st, file, opts.risk);
    if (untrusted) throw new ConfigError([untrusted]);
    if (st.size > MAX_CONFIG_BYTES) throw new ConfigError([{ file, line: 0, field: 'file', expected: `at most ${MAX_CONFIG_BYTES} bytes`, received: `${st.size} bytes` }]);
    return readWhole(fd, st.size);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([{ file, line: 0, field: 'file', expected: opts.what, received: (err as NodeJS.ErrnoException).code ?? String(err) }]);
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

/**
 * Where the last configuration that loaded cleanly is kept between
 * instances (beside the state: state/last-good.ts), so that one that cannot
 * load the file still serves. Neither method throws.
 */
export interface LastGoodKeeper {
  /** Keeps `text`, just loaded cleanly. */
  save(text: string): void;
  /** The kept text, and how to name it in messages (where it is, when it was loaded). */
  load(): { readonly text: string; readonly describe: string } | undefined;
}

/** What a failed load leaves in force. */
export type KeptConfig =
  | { readonly kind: 'none' }
  /** This instance's own earlier version of the file. */
  | { readonly kind: 'memory' }
  /** The copy kept beside the state by an earlier instance. */
  | { readonly kind: 'last-good'; readonly describe: string };

export interface ConfigEvents {
  /** `first`: this instance's first config; `recovered`: the file loads again after the kept copy served. */
  loaded(parsed: ParsedConfig, first: boolean, recovered: boolean): void;
  failed(error: ConfigError, kept: KeptConfig): void;
}

/**
 * The config of a serving instance: loaded at start, re-read when the file
 * changes (checked at most every RELOAD_CHECK_MS, on demand before a lookup),
 * and kept at its last good version when an edit breaks it; an instance
 * started while the file is broken serves the last good copy kept beside the
 * state, when there is one.
 */
export class ConfigSource {
  readonly file: string;
  readonly #events: ConfigEvents;
  readonly #keeper: LastGoodKeeper | undefined;
  #pool: PoolConfig | undefined;
  #fromKept = false;
  #signature = '';
  #checkedAt = -Infinity;

  constructor(file: string, events: ConfigEvents, keeper?: LastGoodKeeper) {
    this.file = file;
    this.#events = events;
    this.#keeper = keeper;
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
    let text: string;
    let parsed: ParsedConfig;
    try {
      text = readConfigText(this.file);
      parsed = parseConfig(text, this.file);
    } catch (err) {
      const error = err instanceof ConfigError
        ? err
        : new ConfigError([{ file: this.file, line: 0, field: 'file', expected: 'a readable config file', received: String(err) }]);
      this.#events.failed(error, this.#keep());
      return;
    }
    const first = this.#pool === undefined;
    const recovered = this.#fromKept;
    this.#pool = parsed.pool;
    this.#fromKept = false;
    this.#events.loaded(parsed, first, recovered);
    this.#keeper?.save(text);
  }

  /** What stays in force after a failed load: this instance's config, else the kept copy. */
  #keep(): KeptConfig {
    if (this.#pool !== undefined) return this.#fromKept ? { kind: 'last-good', describe: 'as before' } : { kind: 'memory' };
    const kept = this.#keeper?.load();
    if (!kept) return { kind: 'none' };
    try {
      this.#pool = parseConfig(kept.text, `${this.file} (last good copy)`).pool;
    } catch {
      return { kind: 'none' };
    }
    this.#fromKept = true;
    return { kind: 'last-good', describe: kept.describe };
  }
}
