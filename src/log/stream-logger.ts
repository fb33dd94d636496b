import { writeSync } from 'node:fs';
import { neutraliseMessage, rfc3164Timestamp } from './format.js';
import type { Level, Logger } from './types.js';

/**
 * Writes log lines to a file descriptor (stderr for `--log-stderr`).
 * Only for terminal debugging: under spawn(8) stderr is the Postfix connection.
 */
export class StreamLogger implements Logger {
  readonly #fd: number;
  readonly #prefix: string;
  constructor(fd: number, tag: string, pid: number) {
    this.#fd = fd;
    this.#prefix = `${tag}[${pid}]`;
  }
  log(level: Level, message: string): void {
    try {
      writeSync(this.#fd, `${rfc3164Timestamp(new Date())} ${this.#prefix}: ${level}: ${neutraliseMessage(message)}\n`);
    } catch {
      // A closed stderr must not take lookups down with it.
    }
  }
  close(): void {}
}

/** Discards everything (`--syslog none`). */
export class NullLogger implements Logger {
  log(): void {}
  close(): void {}
}
