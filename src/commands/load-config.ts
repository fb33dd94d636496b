import { readConfigFile } from '../config/source.js';
import type { ParsedConfig } from '../config/parse.js';
import { ConfigError } from '../errors.js';

/**
 * Reads the config for a command run by a person: on a bad file, every
 * problem goes to `err` (file, line, field, expected, received).
 * @returns the config, or undefined when it is unusable (exit EX.CONFIG)
 */
export function loadConfigFor(file: string, err: (s: string) => void): ParsedConfig | undefined {
  try {
    return readConfigFile(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`postbal: ${file}: configuration invalid\n${e.message.split('\n').map((l) => `  ${l}\n`).join('')}`);
    return undefined;
  }
}
