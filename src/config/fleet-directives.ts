import type { ConfigProblem } from '../errors.js';
import { describeValue } from './entry-line.js';
import type { FleetConfig } from './types.js';

/**
 * The `fleet*` lines of postbal.cf: where the fleet's Redis is and how to
 * reach it. A password is never taken from postbal.cf (a file many read and
 * logs quote): `fleet_password_file` names a root-only file instead. Pure.
 */

export const FLEET_DIRECTIVES = ['fleet', 'fleet_name', 'fleet_host', 'fleet_password_file', 'fleet_sentinel', 'fleet_tls_ca'] as const;
type Name = (typeof FLEET_DIRECTIVES)[number];

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;

/** `redis://[user@]host:port[/db]` or `rediss://…`; a password in it is refused. @returns the URL or what was expected */
export function parseFleetUrl(text: string): string | { expected: string } {
  const expected = 'redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB] (TLS); the password goes in fleet_password_file';
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { expected };
  }
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || u.hostname === '' || u.search !== '' || u.hash !== '') return { expected };
  if (u.password !== '') return { expected: 'no password in the URL (anyone who reads postbal.cf or the log would learn it): put it in fleet_password_file' };
  if (!/^(\/\d{0,2})?$/.test(u.pathname)) return { expected: 'a database number from 0 to 99 after the port (e.g. redis://10.0.0.5:6379/2)' };
  return text;
}

export class FleetDirectives {
  readonly #file: string;
  readonly #set = new Map<Name, { value: string; line: number }>();

  constructor(file: string) {
    this.#file = file;
  }

  static handles(name: string): name is Name {
    return (FLEET_DIRECTIVES as readonly string[]).includes(name);
  }

  /** One `fleet*` line. @returns its problems */
  set(name: Name, value: string, line: number): ConfigProblem[] {
    // A password written in the URL anyway is not repeated in the error (it goes to terminals and logs).
    const shown = name === 'fleet' ? value.replace(/^([a-z]+:\/\/[^:@/]*:)[^@/]*@/i, '$1***@') : value;
    const problem = (expected: string): ConfigProblem[] => [{ file: this.#file, line, field: name, expected, received: describeValue(shown) }];
    const prev = this.#set.get(name);
    if (prev) return [{ file: this.#file, line, field: name, expected: `one "${name}" line (line ${prev.line} has one already)`, received: 'a second one' }];
    const check = CHECKS[name](value);
    if (check !== undefined) return problem(check);
    this.#set.set(name, { value, line });
    return [];
  }

  /** The fleet, or undefined without a `fleet` line; problems when companions came without it. */
  result(): { fleet: FleetConfig | undefined; problems: ConfigProblem[] } {
    const url = this.#set.get('fleet');
    if (!url) {
      const stray = [...this.#set.entries()];
      return { fleet: undefined, problems: stray.map(([name, v]) => ({ file: this.#file, line: v.line, field: name, expected: 'a "fleet = redis://HOST:PORT" line to go with it', received: 'none' })) };
    }
    const sentinel = this.#set.get('fleet_sentinel')?.value.split(/\s+/);
    const fleet: FleetConfig = {
      url: url.value,
      name: this.#set.get('fleet_name')?.value ?? 'postbal',
      host: this.#set.get('fleet_host')?.value,
      passwordFile: this.#set.get('fleet_password_file')?.value,
      sentinel: sentinel && {
        master: sentinel[0]!,
        nodes: sentinel.slice(1).map((n) => {
          const m = HOST_PORT.exec(n)!;
          return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
        }),
      },
      tlsCa: this.#set.get('fleet_tls_ca')?.value,
      line: url.line,
    };
    return { fleet: Object.freeze(fleet), problems: [] };
  }
}

const CHECKS: Readonly<Record<Name, (value: string) => string | undefined>> = {
  fleet(value) {
    const u = parseFleetUrl(value);
    return typeof u === 'string' ? undefined : u.expected;
  },
  fleet_name: (v) => (NAME.test(v) ? undefined : 'a name of 1 to 64 letters, digits, ".", "_" or "-" (it prefixes every key of the fleet)'),
  fleet_host: (v) => (NAME.test(v) ? undefined : 'this host\'s name in the fleet: 1 to 64 letters, digits, ".", "_" or "-"'),
  fleet_password_file: (v) => (v.startsWith('/') ? undefined : 'an absolute path of a file only root can write, holding PASSWORD or USER PASSWORD'),
  fleet_tls_ca: (v) => (v.startsWith('/') ? undefined : 'an absolute path of a PEM file of CA certificates'),
  fleet_sentinel(v) {
    const parts = v.split(/\s+/);
    const ok = parts.length >= 2 && parts.length <= 9 && NAME.test(parts[0]!) && parts.slice(1).every((p) => {
      const m = HOST_PORT.exec(p);
      return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
    });
    return ok ? undefined : 'the primary\'s name as Sentinel knows it, then 1 to 8 Sentinels as HOST:PORT (e.g. "mymaster 10.0.0.5:26379 10.0.0.6:26379")';
  },
};
