import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EX } from '../errors.js';
import { DEFAULTS } from '../defaults.js';
import { createLogger, loadSyslogLibraryWhileRoot } from '../log/create.js';
import { syslogOption } from './options.js';
import type { Logger } from '../log/types.js';
import { logBeforeExit } from '../log/local-syslog.js';
import { POLICY_MAX_REQUEST_BYTES } from '../protocol/limits.js';
import { encodePolicyAction } from '../protocol/policy.js';
import { serveConnection, type ServeHooks } from '../io/serve.js';
import { policyWire, type PolicyRequest, type PolicyWire } from '../protocol/wire.js';
import type { BackendSpec } from '../policy/backend.js';
import { PolicyBoard } from '../policy/board.js';
import { PolicyRouter } from '../policy/router.js';
import { BREAKER_EXPECTED, checkServices, isPolicyAction, parseBreakerSeconds, parseServiceSpec, readPolicyFile, type PolicySettings } from '../policy/spec.js';
import { ConfigError } from '../errors.js';
import { guardProcess } from '../io/guard.js';
import { becomeStateOwner } from '../io/identity.js';
import { quoteForLog } from '../log/format.js';

/**
 * `postbal policy`: failover and balancing in front of Postfix policy
 * services, spawned like postbal and used as `check_policy_service inet:…`.
 * It takes hapolicy's command line as it is (-s, -d, -l, -v, -L), so an
 * administrator swaps the argv= and nothing else. Requests reach a service
 * byte for byte; replies come back verbatim and in request order.
 */

/** A request still unanswered this long gets the default action (smtpd waits 100 s by default). */
const POLICY_DEADLINE_MS = 90_000;

/** The value of `name=` in a request, for log lines. */
function attribute(raw: Buffer, name: string): string {
  const m = new RegExp(`(?:^|\\n)${name}=([^\\n]*)`).exec(raw.toString('latin1'));
  return m ? m[1]!.slice(0, 200) : '';
}

/** hapolicy's command line (and postbal's additions); `-s` specs are collected into `specs` as parsed. */
function policyCommand(specs: BackendSpec[], out: (s: string) => void, complain: (message: string) => void): Command {
  return new Command('postbal policy')
    .description('failover and balancing for Postfix policy services (hapolicy\'s command line): each request goes, byte for byte, to the best service that answers')
    .addOption(new Option('-s, --service <spec>', 'NAME=ADDRESS:PORT[:PRIO[:WEIGHT[:TIMEOUT]]] (repeatable; lower PRIO first, WEIGHT shares within a PRIO, TIMEOUT seconds for a reply, default 30)')
      .argParser((v: string) => {
        const spec = parseServiceSpec(v);
        if ('problem' in spec) throw new InvalidArgumentError(`expected ${spec.problem}, got "${v}"`);
        specs.push(spec);
        return v;
      }))
    .option('-d, --default <action>', `the action when no service answers (default: ${DEFAULTS.policy.defaultAction})`)
    .option('-c, --config <file>', 'read services (service = NAME=ADDRESS:PORT[:PRIO[:WEIGHT[:TIMEOUT]]]), default and breaker from a file; -s adds to its services, -d and --breaker override it')
    .option('--state <file>', 'the state file every instance shares (breakers, round robin, counters), or "none"', DEFAULTS.policyState)
    .addOption(new Option('--breaker <seconds>', `how long every instance skips a service that failed before one request tries it again (default: ${DEFAULTS.policy.breakerMs / 1000})`).argParser((v: string) => {
      const ms = parseBreakerSeconds(v);
      if (ms === undefined) throw new InvalidArgumentError(`expected ${BREAKER_EXPECTED}, got "${v}"`);
      return ms;
    }))
    .option('-l, --log-requests', 'log each request (client, sender, recipient) and its answer')
    .option('-v, --verbose', 'log more (each service failure)')
    .option('-L, --log-stdout', 'log to stdout for debugging: never under Postfix, where stdout is the connection')
    .addOption(syslogOption())
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: (s) => complain(s.trim()) });
}

/**
 * The services, default action and breaker in force: the file's (-c), plus
 * -s services, -d and --breaker over them.
 * @returns them, or the exit code after saying what is wrong
 */
export function resolveSettings(o: Pick<PolicyOptions, 'config' | 'default' | 'breaker'>, specs: readonly BackendSpec[], complain: (message: string) => void): PolicySettings | number {
  let fromFile = { services: [] as readonly BackendSpec[], defaultAction: DEFAULTS.policy.defaultAction as string, breakerMs: DEFAULTS.policy.breakerMs as number };
  if (o.config !== undefined) {
    try {
      fromFile = readPolicyFile(o.config);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      complain(`postbal policy: ${err.message}`);
      return EX.CONFIG;
    }
  }
  const services = [...fromFile.services, ...specs];
  const problems = checkServices(services, o.config ?? 'command line');
  if (problems.length > 0) {
    complain(`postbal policy: ${new ConfigError(problems).message}`);
    return o.config === undefined ? EX.USAGE : EX.CONFIG;
  }
  const defaultAction = o.default ?? fromFile.defaultAction;
  if (!isPolicyAction(defaultAction)) {
    complain(`postbal policy: -d: expected a policy action (e.g. dunno, "defer_if_permit Service unavailable"), got ${JSON.stringify(defaultAction)}`);
    return EX.USAGE;
  }
  return { services, defaultAction, breakerMs: o.breaker ?? fromFile.breakerMs };
}

/** One policy connection: its wire (framing state) and serving hooks. */
export interface PolicyConnection {
  readonly wire: PolicyWire;
  readonly hooks: ServeHooks<PolicyRequest, Buffer>;
  /** Logs what the connection's end left over; call once it ended. */
  closed(): void;
}

/** The routing of policy requests for a process: one router and board, any number of connections. */
export interface PolicyService {
  readonly settings: PolicySettings;
  connection(): PolicyConnection;
  close(): void;
}

/**
 * The router and board for `settings`, logging as `logger`. A spawned
 * `postbal policy` serves one connection with it; the daemon many.
 */
export function openPolicyService(settings: PolicySettings, statePath: string, logger: Logger, logRequests: boolean): PolicyService {
  const { services, defaultAction, breakerMs } = settings;
  const board = new PolicyBoard(statePath === 'none' ? undefined : statePath, services, { warn: (m) => logger.log('warning', m) });
  const router = new PolicyRouter(services, {
    defaultAction,
    breakerMs,
    board,
    log: (level, message) => logger.log(level, message),
  });
  logger.log('info', `policy: services ${services.map((s) => `${s.name}=${s.host}:${s.port} prio ${s.priority} weight ${s.weight}`).join(', ')}; default action ${defaultAction}; state in ${board.where}`);
  const failure = encodePolicyAction(defaultAction);
  return {
    settings,
    connection() {
      const wire = policyWire(failure);
      let oversized = 0;
      const hooks: ServeHooks<PolicyRequest, Buffer> = {
        handle: async ([raw]) => {
          if (raw === undefined) oversized++;
          return [raw ? await router.route(raw) : wire.failure];
        },
        // smtpd gives up at smtpd_policy_service_timeout (100 s): the default action before that.
        deadlineMs: POLICY_DEADLINE_MS,
        internalError: (err) => logger.log('error', `policy: internal error (please report), answered the default action: ${err instanceof Error ? err.message : String(err)}`),
        ...(logRequests ? {
          replied: ([raw]: readonly PolicyRequest[], [reply]: readonly Buffer[]) => {
            if (raw) logger.log('info', `policy: client=${quoteForLog(attribute(raw, 'client_address'))} sender=${quoteForLog(attribute(raw, 'sender'))} recipient=${quoteForLog(attribute(raw, 'recipient'))} reply=${quoteForLog(reply!.toString('latin1').trim())}`);
          },
        } : {}),
      };
      return {
        wire,
        hooks,
        closed() {
          if (oversized > 0) logger.log('warning', `policy: ${oversized} requests over ${POLICY_MAX_REQUEST_BYTES} bytes answered with the default action`);
          if (wire.unfinishedBytes > 0) logger.log('warning', `policy: input ended in the middle of a request (${wire.unfinishedBytes} bytes dropped)`);
        },
      };
    },
    close() {
      router.close();
      board.close();
    },
  };
}

/** The options of `postbal policy`, as parsed. */
interface PolicyOptions {
  default?: string;
  config?: string;
  state: string;
  breaker?: number;
  logRequests?: boolean;
  verbose?: boolean;
  logStdout?: boolean;
  syslog: string;
}

/** Runs `postbal policy ARGS`. @returns the exit code */
export async function runPolicy(args: readonly string[], io: { out: (s: string) => void; err: (s: string) => void; spawned: boolean }): Promise<number> {
  const specs: BackendSpec[] = [];
  // Under spawn(8) stderr is Postfix's connection: problems go to syslog there.
  const complain = (message: string): void => {
    if (io.spawned) logBeforeExit({ tag: 'postfix/postbal-policy', pid: process.pid }, 'error', message);
    else io.err(`${message}\n`);
  };
  const cmd = policyCommand(specs, io.out, complain);
  try {
    cmd.parse(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? EX.OK : EX.USAGE;
    throw err;
  }
  const o = cmd.opts<PolicyOptions>();
  try {
    loadSyslogLibraryWhileRoot(o.syslog);
    becomeStateOwner(o.state);
  } catch (err) {
    complain(`postbal policy: ${(err as Error).message}`);
    return EX.NOPERM;
  }
  const settings = resolveSettings(o, specs, complain);
  if (typeof settings === 'number') return settings;
  const logger: Logger = createLogger(o.logStdout && !io.spawned ? 'stderr' : o.syslog, 'postfix/postbal-policy', process.pid)!;
  const service = openPolicyService(settings, o.state, logger, o.logRequests === true);
  guardProcess(logger, (err) => logger.log('error', `policy: internal error (please report): ${err instanceof Error ? err.stack ?? err.message : String(err)}`));
  const conn = service.connection();
  await serveConnection(process.stdin, process.stdout, () => conn.wire, conn.hooks);
  conn.closed();
  service.close();
  logger.close();
  return EX.OK;
}
