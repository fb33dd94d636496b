import { InvalidArgumentError, Option } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { isSyslogTarget, SYSLOG_TARGETS } from '../log/create.js';

/**
 * Options that more than one command line takes, defined once: the main
 * program and `postbal policy` (which has hapolicy's parser of its own).
 */

/** `--syslog TARGET`, checked as it is parsed. */
export function syslogOption(): Option {
  return new Option('--syslog <target>', `where logs go: ${SYSLOG_TARGETS}`).default(DEFAULTS.syslog).argParser((text: string) => {
    if (!isSyslogTarget(text)) throw new InvalidArgumentError(`expected ${SYSLOG_TARGETS}, got "${text}"`);
    return text;
  });
}
