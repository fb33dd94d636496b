import { Command, InvalidArgumentError, Option } from 'commander';
import { ALGORITHMS } from '../../config/parse.js';
import type { Algorithm } from '../../config/types.js';
import { DEFAULTS } from '../../defaults.js';
import { LISTEN_EXPECTED, parseListenSpec, type ListenSpec } from '../../io/listeners.js';
import type { BackendSpec } from '../../policy/backend.js';
import { BREAKER_EXPECTED, parseBreakerSeconds, parseServiceSpec } from '../../policy/spec.js';
import { gidOf, uidOf } from '../../sys/users.js';
import { syslogOption } from '../options.js';

/**
 * `postbal daemon`'s command line: postbal's lookup options, `postbal
 * policy`'s (hapolicy's -s, -d) and the listeners. Its own parser, as for
 * `postbal policy`: -s is a policy service here, as there, not --state.
 */

export interface DaemonOptions {
  config: string;
  state: string;
  policyState: string;
  listen?: ListenSpec[];
  syslog: string;
  logStderr?: boolean;
  logLookups?: boolean;
  algorithm?: Algorithm;
  repeatWindow: number;
  default?: string;
  policyConfig?: string;
  breaker?: number;
  logRequests?: boolean;
  socketMode: number;
  socketOwner?: { uid?: number; gid?: number };
  maxConnections: number;
}

/** Default --socket-mode: the owner (Postfix's user, or the daemon's) and its group may connect, nobody else. */
export const DEFAULT_SOCKET_MODE = 0o660;
export const DEFAULT_MAX_CONNECTIONS = 1000;

function wholeNumber(min: number, max: number, what: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new InvalidArgumentError(`expected ${what} from ${min} to ${max}, got "${text}"`);
    return n;
  };
}

/** `USER`, `USER:GROUP` or `:GROUP`, names or numbers. */
export function parseSocketOwner(text: string): { uid?: number; gid?: number } {
  const [user, group] = text.split(':', 2) as [string, string | undefined];
  const uid = user === '' ? undefined : uidOf(user);
  const gid = group === undefined || group === '' ? undefined : gidOf(group);
  if (user !== '' && uid === undefined) throw new InvalidArgumentError(`expected USER[:GROUP] naming a user of this host, got "${text}" (no user "${user}")`);
  if (group !== undefined && group !== '' && gid === undefined) throw new InvalidArgumentError(`expected USER[:GROUP] naming a group of this host, got "${text}" (no group "${group}")`);
  if (uid === undefined && gid === undefined) throw new InvalidArgumentError(`expected USER[:GROUP], got "${text}"`);
  return { ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }) };
}

export function daemonCommand(specs: BackendSpec[], out: (s: string) => void, complain: (message: string) => void): Command {
  return new Command('postbal daemon')
    .description('one long-running process serving every Postfix connection at once: tcp_table and socketmap lookups and policy requests, on sockets it opens (--listen) or systemd passes it (socket activation); SIGHUP re-reads the config, SIGTERM finishes the replies under way and exits')
    .addOption(new Option('--listen <protocol:address>', `${LISTEN_EXPECTED}; repeatable`).argParser((text: string, previous: ListenSpec[] | undefined) => {
      const spec = parseListenSpec(text);
      if ('problem' in spec) throw new InvalidArgumentError(spec.problem);
      return [...(previous ?? []), spec];
    }))
    .addOption(new Option('-c, --config <file>', 'pool config, one {weight}transport:nexthop per line').default(DEFAULTS.config))
    .addOption(new Option('--state <file>', 'the state file spawned instances and commands share, or "none"').default(DEFAULTS.state))
    .addOption(new Option('--policy-state <file>', 'the policy board (breakers, counters) "postbal policy" instances share, or "none"').default(DEFAULTS.policyState))
    .addOption(syslogOption())
    .option('--log-stderr', 'log to stderr instead of syslog (for a supervisor that keeps stderr; systemd\'s journal keeps both)')
    .option('--log-lookups', 'log one info line per lookup')
    .addOption(new Option('--algorithm <name>', 'wrr, random or sticky; overrides the config\'s "algorithm ="').choices(ALGORITHMS))
    .addOption(new Option('--repeat-window <seconds>', 'answer a key looked up again within this time with the same transport (0 disables)').default(DEFAULTS.repeatWindowSec).argParser(wholeNumber(0, 86_400, 'whole seconds')))
    .addOption(new Option('-s, --service <spec>', 'a policy service, NAME=ADDRESS:PORT[:PRIO[:WEIGHT[:TIMEOUT]]] as for postbal policy (repeatable)').argParser((v: string) => {
      const spec = parseServiceSpec(v);
      if ('problem' in spec) throw new InvalidArgumentError(`expected ${spec.problem}, got "${v}"`);
      specs.push(spec);
      return v;
    }))
    .option('-d, --default <action>', `the policy action when no service answers (default: ${DEFAULTS.policy.defaultAction})`)
    .option('--policy-config <file>', 'policy services, default and breaker from a file (as postbal policy --config); SIGHUP re-reads it')
    .addOption(new Option('--breaker <seconds>', 'how long a failed policy service is skipped').argParser((v: string) => {
      const ms = parseBreakerSeconds(v);
      if (ms === undefined) throw new InvalidArgumentError(`expected ${BREAKER_EXPECTED}, got "${v}"`);
      return ms;
    }))
    .option('-l, --log-requests', 'log each policy request and its answer')
    .addOption(new Option('--socket-mode <octal>', 'mode of the unix sockets the daemon creates').default(DEFAULT_SOCKET_MODE, '0660').argParser((text: string) => {
      if (!/^0?[0-7]{3}$/.test(text)) throw new InvalidArgumentError(`expected an octal mode such as 0660, got "${text}"`);
      return parseInt(text, 8);
    }))
    .addOption(new Option('--socket-owner <user[:group]>', 'owner of the unix sockets the daemon creates (default: postfix:postfix when started as root, else the daemon\'s own)').argParser(parseSocketOwner))
    .addOption(new Option('--max-connections <n>', 'connections served at once per listener; one more is closed at once (Postfix tries again)').default(DEFAULT_MAX_CONNECTIONS).argParser(wholeNumber(1, 100_000, 'a count')))
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: (s) => complain(s.trim()) });
}
