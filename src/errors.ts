/**
 * Error classes with stable codes, and the sysexits(3) exit codes the CLI uses.
 */

export const EX = {
  OK: 0,
  USAGE: 64,
  /** A service (a listener's address) cannot be had. */
  UNAVAILABLE: 69,
  /** An internal error; set by bin/postbal, which cannot import this. */
  SOFTWARE: 70,
  /** An output file cannot be created. */
  CANTCREAT: 73,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const;

/** One problem found in a config file, located by file and line. */
export interface ConfigProblem {
  readonly file: string;
  /** 1-based line number; 0 when the problem concerns the whole file. */
  readonly line: number;
  readonly field: string;
  readonly expected: string;
  readonly received: string;
}

export function formatConfigProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  return `${where}: ${p.field}: expected ${p.expected}, got ${p.received}`;
}

/** A config file that cannot be used; carries every problem found. */
export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatConfigProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A state file or directory we must not or cannot use. */
export class StateError extends Error {
  /** EUNSAFE: must not be trusted; ENOPERM: not ours to change; EUNAVAILABLE: cannot be used now. */
  readonly code: 'EUNSAFE' | 'ENOPERM' | 'EUNAVAILABLE';
  readonly path: string;
  constructor(code: StateError['code'], path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'StateError';
    this.code = code;
    this.path = path;
  }
}
