import { fstatSync, readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runServe } from './commands/serve.js';
import { runCheck } from './commands/check.js';
import { runStatus } from './commands/status.js';
import { runDrain, runResetStats } from './commands/control.js';
import { runPolicy } from './commands/policy.js';
import { runDaemon } from './commands/daemon.js';
import { runPolicyCheck, runPolicyStatus } from './commands/policy-status.js';
import { runClearSuspension, runMarkUp } from './commands/trouble.js';
import { runWarmupStage } from './commands/warmup.js';
import { ALGORITHMS } from './config/parse.js';
import { DEFAULTS } from './defaults.js';
import { EX } from './errors.js';
import { createLogger, loadSyslogLibraryWhileRoot } from './log/create.js';
import { syslogOption } from './commands/options.js';
import { becomeStateOwner } from './io/identity.js';
import { unknownCommandProblem } from './command-word.js';
import { addJobs } from './cli-commands/jobs.js';
import { addMonitoring, CHECK_HEALTH_USAGE } from './cli-commands/monitoring.js';
import { loadMetricsLibrary } from './commands/metrics/collect.js';
import { loadFleetLibrary } from './fleet/store.js';
import { controlIo, type GlobalOptions, type Result } from './cli-commands/shared.js';
import { EXAMPLES } from './help-text.js';
import { logBeforeExit } from './log/local-syslog.js';

/**
 * Command line: argv in, exit code out. The only module that decides exit codes.
 */



/** Set by the bundler (esbuild --define) from package.json. */
declare const __POSTBAL_VERSION__: string | undefined;

function readVersion(): string {
  if (typeof __POSTBAL_VERSION__ === 'string') return __POSTBAL_VERSION__;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** True when stdin is a socket, i.e. spawn(8) started us: stderr is then Postfix's connection. */
function stdinIsSocket(): boolean {
  try {
    return fstatSync(0).isSocket();
  } catch {
    return false;
  }
}

function parseSeconds(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n > 86_400) {
    throw new InvalidArgumentError(`expected whole seconds from 0 to 86400, got "${text}"`);
  }
  return n;
}



/** Says a command-line problem where its reader is: the log under spawn (stderr is Postfix's), else stderr. */
function sayProblem(spawned: boolean, message: string): void {
  if (spawned) logBeforeExit({ tag: DEFAULTS.syslogTag, pid: process.pid }, 'error', message);
  else process.stderr.write(`${message}\n`);
}

/** The program with its global options. */
function programFor(spawned: boolean): Command {
  const program = new Command('postbal');
  program
    .description('Outbound transport balancer for Postfix: answers tcp_table and socketmap lookups on stdin/stdout with a transport of the best tier not drained, chosen by smooth weighted round robin (or weighted random, or sticky per domain), shared by every instance through a state file.')
    .version(readVersion(), '-V, --version')
    .addOption(new Option('-c, --config <file>', 'pool config, one {weight}transport:nexthop per line').default(DEFAULTS.config))
    .addOption(new Option('-s, --state <file>', 'shared state file, or "none" for per-process state').default(DEFAULTS.state))
    .addOption(syslogOption())
    .option('--log-stderr', 'log to stderr instead of syslog (terminal debugging only: never under Postfix)')
    .option('--log-lookups', 'log one info line per lookup, as postbal.pl did (off by default, as in Postfix\'s own daemons without -v; each instance logs a summary when it exits)')
    .option('--no-log-lookups', 'no line per lookup (the default)')
    .addOption(new Option('--algorithm <name>', 'how a transport of the active tier is chosen: wrr (smooth weighted round robin), random (weighted), sticky (same domain, same transport); overrides the config\'s "algorithm ="').choices(ALGORITHMS))
    .addOption(new Option('--repeat-window <seconds>', 'answer a key looked up again within this time with the same transport, without using a new position (0 disables)').default(DEFAULTS.repeatWindowSec).argParser(parseSeconds))
    .showHelpAfterError()
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => {
        // Under spawn the reason goes to the log, the help text after it does not.
        if (spawned) {
          if (!s.startsWith('Usage:')) logBeforeExit({ tag: DEFAULTS.syslogTag, pid: process.pid }, 'error', `command line (argv= in master.cf): ${s.trim().replace(/\n/g, ' ')}`);
        } else process.stderr.write(s);
      },
    });
  return program;
}

/** serve (the default), check and status. */
function addServeAndInspect(program: Command, r: Result): void {
  program
    .command('serve', { isDefault: true })
    .description('answer lookups on stdin/stdout until EOF (the default; what master.cf runs)')
    .action((_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const target = o.logStderr ? 'stderr' : o.syslog;
      const logger = createLogger(target, DEFAULTS.syslogTag, process.pid)!;
      r.serving = runServe({
        configPath: o.config,
        statePath: o.state,
        logger,
        logLookups: o.logLookups === true,
        repeatWindowSec: o.repeatWindow,
        ...(o.algorithm ? { algorithm: o.algorithm } : {}),
      });
    });

  program
    .command('check')
    .description('validate the config, print the tiers, algorithm, fallback, match rules and the first picks, and check the pool against Postfix\'s master.cf; exit 0 or 78')
    .option('--policy <file>', 'validate a "postbal policy --config" file instead, and print its services by priority')
    .option('--postfix-config <dir>', 'check the pool against this Postfix instance\'s master.cf (postconf -c DIR); by default the instance whose config directory holds the pool file')
    .action((opts: { policy?: string; postfixConfig?: string }, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      r.code = opts.policy !== undefined
        ? runPolicyCheck(opts.policy, (s) => process.stdout.write(s), (s) => process.stderr.write(s))
        : runCheck(o.config, (s) => process.stdout.write(s), (s) => process.stderr.write(s), { statePath: o.state, ...(opts.postfixConfig === undefined ? {} : { dir: opts.postfixConfig }) });
    });

  program
    .command('status')
    .description('show tiers, weights, drain marks and the picks of each transport since the last reset')
    .option('--json', 'print the same as JSON, for scripts')
    .option('--policy', `show the policy services "postbal policy" instances share instead: health, failures, latency, share (state file: --state, default ${DEFAULTS.policyState})`)
    .action((opts: { json?: boolean; policy?: boolean }, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      if (opts.policy) {
        const path = cmd.parent?.getOptionValueSource('state') === 'default' ? DEFAULTS.policyState : o.state;
        r.code = runPolicyStatus(path, opts.json === true, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
        return;
      }
      r.code = runStatus(o.config, o.state, opts.json === true, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    });
}


/** The commands that change the shared state: drain, undrain, mark-up, clear-suspension, warmup-stage, reset-stats. */
function addControl(program: Command, r: Result): void {
  for (const [name, drain] of [['drain', true], ['undrain', false]] as const) {
    program
      .command(`${name} <transport>`)
      .description(drain
        ? 'take a transport out of rotation in every running instance from their next lookup (persists; logged).\n<transport> is an entry ("smtp1:[relay.example]:25") or a service ("smtp1": all its entries)'
        : 'put a drained transport back into rotation')
      .action((transport: string, _opts, cmd: Command) => {
        const io = controlIo(cmd);
        r.code = runDrain(io.o.config, io.o.state, transport, drain, io);
        io.logger.close();
      });
  }

  program
    .command('mark-up <transport>')
    .description('put a transport that postbal feedback marked down back at full weight at once (an entry, or every entry of a service)')
    .action((transport: string, _opts, cmd: Command) => {
      const io = controlIo(cmd);
      r.code = runMarkUp(io.o.config, io.o.state, transport, io);
      io.logger.close();
    });

  program
    .command('clear-suspension <transport> [destination]')
    .description('end the suspensions postbal feedback set for a transport: for one destination (provider or domain), or all')
    .action((transport: string, destination: string | undefined, _opts, cmd: Command) => {
      const io = controlIo(cmd);
      r.code = runClearSuspension(io.o.config, io.o.state, transport, destination, io);
      io.logger.close();
    });

  program
    .command('warmup-stage <transport> <stage>')
    .description('set the warm-up stage of a transport with a warmup= schedule: 1 starts it again, the number of stages + 1 (or "warmed") ends it; every instance follows from its next new answer')
    .action((transport: string, stage: string, _opts, cmd: Command) => {
      const io = controlIo(cmd);
      r.code = runWarmupStage(io.o.config, io.o.state, transport, stage, io);
      io.logger.close();
    });

  program
    .command('reset-stats')
    .description('set the pick and repeat counters shown by status back to zero')
    .action((_opts, cmd: Command) => {
      const io = controlIo(cmd);
      r.code = runResetStats(io.o.config, io.o.state, io);
      io.logger.close();
    });
}


/**
 * Root takes the state directory owner's identity before any command
 * touches the state (io/identity.ts); check touches none.
 * @returns what went wrong taking it, once the command was refused
 */
function takeStateOwnerFirst(program: Command): () => string | undefined {
  let problem: string | undefined;
  program.hook('preAction', (_program, action) => {
    if (action.name() === 'check') return;
    const o = action.optsWithGlobals<GlobalOptions & { policy?: boolean }>();
    const path = action.name() === 'status' && o.policy === true && program.getOptionValueSource('state') === 'default' ? DEFAULTS.policyState : o.state;
    try {
      // What the command loads later must be loaded while root can still read it.
      if (action.name() === 'metrics') loadMetricsLibrary();
      if (action.name() === 'fleet') loadFleetLibrary();
      loadSyslogLibraryWhileRoot(o.syslog);
      becomeStateOwner(path);
    } catch (err) {
      problem = (err as Error).message;
      throw err;
    }
  });
  return () => problem;
}

/** Parses argv and runs the command. @returns the exit code */
export async function main(argv: readonly string[]): Promise<number> {
  const spawned = stdinIsSocket();
  // `postbal --help | head -1`: a reader that goes away is not an error.
  process.stdout.on('error', () => undefined);
  // hapolicy's command line, -s included, so it has a parser of its own
  // (postbal's -s is --state).
  if (argv[2] === 'policy') return runPolicy(argv.slice(3), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), spawned });
  // Its -s is a policy service too.
  if (argv[2] === 'daemon') return runDaemon(argv.slice(3), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
  const r: Result = { code: EX.OK };
  const program = programFor(spawned);
  addServeAndInspect(program, r);
  addControl(program, r);
  addJobs(program, r, readVersion());
  addMonitoring(program, r, readVersion());
  const unknown = unknownCommandProblem(argv.slice(2), program);
  if (unknown !== undefined) {
    sayProblem(spawned, spawned ? `command line (argv= in master.cf): ${unknown}` : `postbal: ${unknown}`);
    return EX.USAGE;
  }
  const identityProblem = takeStateOwnerFirst(program);
  try {
    await program.parseAsync(argv, { from: 'node' });
  } catch (err) {
    const problem = identityProblem();
    if (problem !== undefined) {
      sayProblem(spawned, `postbal: ${problem}`);
      return EX.NOPERM;
    }
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EX.OK;
      // A monitoring plugin's usage error is UNKNOWN (3), which the monitor shows as such.
      return argv.slice(2).includes('check-health') ? CHECK_HEALTH_USAGE : EX.USAGE;
    }
    throw err;
  }
  return r.serving ?? r.code;
}
