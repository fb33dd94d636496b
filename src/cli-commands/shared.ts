import type { Command } from 'commander';
import type { Algorithm } from '../config/types.js';
import { DEFAULTS } from '../defaults.js';
import { createLogger } from '../log/create.js';
import type { Logger } from '../log/types.js';

/** What the command lines of cli.ts and this folder share. */

export interface GlobalOptions {
  config: string;
  state: string;
  syslog: string;
  logStderr?: boolean;
  logLookups?: boolean;
  repeatWindow: number;
  algorithm?: Algorithm;
}

/** What the command that ran leaves: its exit code, or the serving loop's to come. */
export interface Result {
  code: number;
  serving?: Promise<number>;
}

/** A control command's streams, logger and global options. */
export function controlIo(cmd: Command, tag: string = DEFAULTS.syslogTag): { out: (s: string) => void; err: (s: string) => void; logger: Logger; o: GlobalOptions } {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const logger = createLogger(o.logStderr ? 'stderr' : o.syslog, tag, process.pid)!;
  return { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), logger, o };
}
