import { ConfigError, type ConfigProblem } from '../errors.js';
import type { BackendSpec } from './backend.js';
import { readTrustedFile } from '../config/source.js';
import { DEFAULTS } from '../defaults.js';
import { configLines, directiveOf } from '../config/lines.js';

/**
 * What `postbal policy` runs with: hapolicy's -s specs and options, from the
 * command line or from a file of the same words (`service = …` lines). Pure
 * but for reading the file.
 */

export interface PolicySettings {
  readonly services: readonly BackendSpec[];
  /** The action when no service answers (hapolicy's -d). */
  readonly defaultAction: string;
  /** How long a failed service is skipped by every instance before one request tries it again (ms). */
  readonly breakerMs: number;
}


const SPEC = /^([A-Za-z0-9_.-]{1,32})=([^:\s[\]]+|\[[^\]\s]+\]):(\d{1,5})(?::(\d{1,4})(?::(\d{1,6})(?::(\d{1,6}))?)?)?$/;

/**
 * Parses `name=host:port[:prio[:weight[:timeout]]]` (hapolicy's -s; timeout
 * in seconds, default 30). Unlike hapolicy, `name=host:port` alone is taken.
 * @returns the spec, or what was wrong with it
 */
export function parseServiceSpec(text: string): BackendSpec | { readonly problem: string } {
  const m = SPEC.exec(text);
  const port = m ? Number(m[3]) : 0;
  const weight = m?.[5] === undefined ? 1 : Number(m[5]);
  const timeout = m?.[6] === undefined ? DEFAULTS.policy.timeoutSec : Number(m[6]);
  if (!m || port < 1 || port > 65535 || weight < 1 || timeout < 1) {
    return { problem: 'NAME=ADDRESS:PORT[:PRIO[:WEIGHT[:TIMEOUT]]] (NAME of letters, digits, ".", "_", "-", at most 32; port 1-65535; weight and timeout in seconds >= 1)' };
  }
  return { name: m[1]!, host: m[2]!.replace(/^\[|\]$/g, ''), port, priority: m[4] === undefined ? 0 : Number(m[4]), weight, timeoutMs: timeout * 1000 };
}

/** A policy action as Postfix takes it after `action=`: printable, one line. */
export function isPolicyAction(text: string): boolean {
  return /^[\x21-\x7e][\x20-\x7e]*$/.test(text) && text.length <= 500;
}

/** Problems common to every source: names must be unique, one service at least. */
export function checkServices(services: readonly BackendSpec[], file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (services.length === 0) problems.push({ file, line: 0, field: 'service', expected: 'at least one service (-s NAME=ADDRESS:PORT or a "service =" line)', received: 'none' });
  const seen = new Set<string>();
  for (const s of services) {
    if (seen.has(s.name)) problems.push({ file, line: 0, field: 'service', expected: 'each NAME once', received: `"${s.name}" twice` });
    seen.add(s.name);
  }
  if (services.length > MAX_SERVICES) problems.push({ file, line: 0, field: 'service', expected: `at most ${MAX_SERVICES} services`, received: String(services.length) });
  return problems;
}

/** The shared state has a record per service in one page. */
export const MAX_SERVICES = 24;

/**
 * Reads a policy config file:
 *   service = NAME=ADDRESS:PORT[:PRIO[:WEIGHT[:TIMEOUT]]]   (repeatable)
 *   default = ACTION
 *   breaker = SECONDS
 * `#` comments and blank lines ignored.
 * @throws ConfigError with every problem, each naming file, line, field, expected and received
 */
export function readPolicyFile(file: string): PolicySettings {
  const text = readTrustedFile(file, { what: 'a readable policy config file', risk: 'another local user could send the policy requests elsewhere' }).toString('latin1');
  return parsePolicyText(text, file);
}

/** What a breaker time may be (for messages of the file and of --breaker alike). */
export const BREAKER_EXPECTED = 'whole seconds from 1 to 9999';

/** A breaker time in seconds (`breaker =`, `--breaker`), in ms; undefined when not one. */
export function parseBreakerSeconds(text: string): number | undefined {
  return /^\d{1,4}$/.test(text) && Number(text) >= 1 ? Number(text) * 1000 : undefined;
}

/** Each directive of the policy file: sets its value, or says what was expected. */
const POLICY_DIRECTIVES: Readonly<Record<string, (value: string, into: { services: BackendSpec[]; defaultAction: string; breakerMs: number }) => string | undefined>> = {
  service(value, into) {
    const spec = parseServiceSpec(value);
    if ('problem' in spec) return spec.problem;
    into.services.push(spec);
    return undefined;
  },
  default(value, into) {
    if (!isPolicyAction(value)) return 'a policy action (e.g. dunno, "defer_if_permit Service unavailable")';
    into.defaultAction = value;
    return undefined;
  },
  breaker(value, into) {
    const ms = parseBreakerSeconds(value);
    if (ms === undefined) return BREAKER_EXPECTED;
    into.breakerMs = ms;
    return undefined;
  },
};

/** Parses the text of a policy config file (see readPolicyFile). @throws ConfigError */
export function parsePolicyText(text: string, file: string): PolicySettings {
  const problems: ConfigProblem[] = [];
  const settings: { services: BackendSpec[]; defaultAction: string; breakerMs: number } = { services: [], defaultAction: DEFAULTS.policy.defaultAction, breakerMs: DEFAULTS.policy.breakerMs };
  for (const { line, text: content } of configLines(text)) {
    const d = directiveOf(content);
    const where = { file, line };
    if (!d) {
      problems.push({ ...where, field: 'line', expected: '"service = …", "default = …" or "breaker = …"', received: JSON.stringify(content.slice(0, 80)) });
      continue;
    }
    // Own keys only: "constructor = x" is an unknown directive, not Object's.
    const set = Object.hasOwn(POLICY_DIRECTIVES, d.name) ? POLICY_DIRECTIVES[d.name] : undefined;
    const problem = set ? set(d.value, settings) : 'one of service, default, breaker';
    if (problem !== undefined) problems.push({ ...where, field: d.name, expected: problem, received: JSON.stringify((set ? d.value : d.name).slice(0, 80)) });
  }
  problems.push(...checkServices(settings.services, file));
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}
