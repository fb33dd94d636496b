import { readConfigFile } from '../config/source.js';
import { ConfigError, EX } from '../errors.js';
import { previewSmoothWrr } from '../balance/wrr.js';

/** How many picks of the first cycle `check` prints at most. */
const PREVIEW_MAX = 60;

/**
 * `postbal check`: validates the config, prints the pool and the first cycle
 * of picks. Writes to the given streams (a terminal, not Postfix).
 * @returns EX.OK, or EX.CONFIG with every problem on `err`
 */
export function runCheck(file: string, out: (s: string) => void, err: (s: string) => void): number {
  let parsed;
  try {
    parsed = readConfigFile(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`postbal: ${file}: configuration invalid\n`);
    for (const line of e.message.split('\n')) err(`  ${line}\n`);
    return EX.CONFIG;
  }
  const { transports } = parsed.pool;
  const total = transports.reduce((s, t) => s + t.weight, 0);
  out(`${file}: OK, ${transports.length} transport${transports.length === 1 ? '' : 's'}, total weight ${total}\n`);
  for (const w of parsed.warnings) out(`  warning: line ${w.line}: ${w.message}\n`);
  const width = Math.max(...transports.map((t) => t.value.length), 9);
  out(`\n  ${'transport'.padEnd(width)}  weight   share  line\n`);
  for (const t of transports) {
    out(`  ${t.value.padEnd(width)}  ${String(t.weight).padStart(6)}  ${((100 * t.weight) / total).toFixed(1).padStart(5)}%  ${t.line}\n`);
  }
  const count = Math.min(total, PREVIEW_MAX);
  const picks = previewSmoothWrr(transports.map((t) => t.weight), count).map((i) => transports[i]!.value);
  out(`\nfirst ${count === total ? 'cycle' : `${count} picks`} of smooth weighted round robin:\n  ${picks.join(' ')}\n`);
  return EX.OK;
}
