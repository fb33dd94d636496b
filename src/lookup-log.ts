import { formatKeyForLog } from './log/format.js';
import type { Level } from './log/types.js';
import type { Outcome, Request } from './protocol/types.js';

/**
 * What a serving instance says about its lookups: a line per lookup only when
 * asked (`--log-lookups`; Postfix's own daemons log lookups only with -v, and
 * a line per lookup costs the syslog daemon the CPU Postfix needs), a line
 * for every request that was not answered normally, and one summary when the
 * instance exits.
 */
export class LookupLog {
  readonly #everyLookup: boolean;
  #picks = 0;
  #repeats = 0;
  #notFound = 0;
  #tempFail = 0;
  #invalid = 0;

  constructor(everyLookup: boolean) {
    this.#everyLookup = everyLookup;
  }

  /**
   * Counts a burst and returns its log lines (level, text), in request order.
   * @param repeat per request: answered from the memo
   */
  record(requests: readonly Request[], out: readonly Outcome[], repeat: readonly boolean[]): [Level, string][] {
    const lines: [Level, string][] = [];
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      const o = out[i]!;
      if (r.kind === 'invalid') {
        this.#invalid++;
        lines.push(['warning', `invalid request: ${r.reason}`]);
        continue;
      }
      switch (o.kind) {
        case 'found':
          if (repeat[i]) this.#repeats++;
          else this.#picks++;
          if (this.#everyLookup) lines.push(['info', `key=<${formatKeyForLog(r.key)}> transport=${o.value} ${repeat[i] ? 'repeat' : 'pick'}`]);
          break;
        case 'notFound':
          this.#notFound++;
          if (this.#everyLookup) lines.push(['info', `key=<${formatKeyForLog(r.key)}> not found${o.reason === 'not_found' ? '' : ` (${o.reason.replaceAll('_', ' ')})`}`]);
          break;
        case 'tempFail':
        case 'permFail':
          this.#tempFail++;
          lines.push(['warning', `key=<${formatKeyForLog(r.key)}> ${o.reason}`]);
          break;
        default: {
          const unreachable: never = o;
          throw new Error(`unknown outcome ${String(unreachable)}`);
        }
      }
    }
    return lines;
  }

  /** One line for the end of a connection: what it was asked and answered. */
  summary(): string {
    const lookups = this.#picks + this.#repeats + this.#notFound + this.#tempFail;
    return `answered ${lookups} lookup${lookups === 1 ? '' : 's'}: ${this.#picks} new picks, ${this.#repeats} repeats, ${this.#notFound} not found, ${this.#tempFail} failed; ${this.#invalid} invalid requests`;
  }
}
