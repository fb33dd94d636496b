import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { HEALTH, runCheckHealth } from '../commands/check-health.js';
import { parseListen, printMetrics, runMetricsListener, runTextfile, type MetricsOptions } from '../commands/metrics.js';
import { controlIo, type Result } from './shared.js';

/** metrics and check-health: what Prometheus and Nagios-style monitors run. */
export function addMonitoring(program: Command, r: Result, version: string): void {
  program
    .command('metrics')
    .description('the pool, shared state and every instance\'s counters in Prometheus\' text format, read afresh at each scrape: served on --listen, written for node_exporter (--textfile), or printed once')
    .addOption(new Option('--listen <host:port>', 'serve GET /metrics here until SIGTERM (e.g. 127.0.0.1:9779)').argParser((text: string) => {
      const parsed = parseListen(text);
      if (typeof parsed === 'string') throw new InvalidArgumentError(parsed);
      return parsed;
    }))
    .option('--textfile <dir>', `write DIR/postbal.prom for node_exporter's textfile collector (atomically: a temporary name, then a rename), once or every --interval`)
    .addOption(new Option('--interval <seconds>', 'with --textfile: keep writing, this often, until SIGTERM').argParser(wholeSeconds))
    .option('--policy-state <file>', `the policy board to read as well ("none": no policy metrics; default ${DEFAULTS.policyState} when it exists)`)
    .action(async (opts: { listen?: { host: string; port: number }; textfile?: string; interval?: number; policyState?: string }, cmd: Command) => {
      const io = controlIo(cmd);
      const policyState = opts.policyState === 'none' ? undefined : opts.policyState ?? DEFAULTS.policyState;
      const o: MetricsOptions = { configFile: io.o.config, statePath: io.o.state, policyState, version, logger: io.logger };
      if (opts.interval !== undefined && opts.textfile === undefined) {
        io.err('postbal metrics: --interval goes with --textfile DIR\n');
        r.code = 64;
      } else if (opts.listen && opts.textfile !== undefined) {
        io.err('postbal metrics: --listen or --textfile, not both (run two)\n');
        r.code = 64;
      } else if (opts.listen) r.code = await runMetricsListener(o, opts.listen, io.err);
      else if (opts.textfile !== undefined) r.code = await runTextfile(o, opts.textfile, opts.interval, io.err);
      else r.code = await printMetrics(o, io.out, io.err);
      io.logger.close();
    });

  program
    .command('check-health')
    .description('one status line for Nagios, Icinga or Naemon (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, perfdata after "|"): critical when the config cannot be loaded or the preferred tier has no usable transport, warning when a transport is down or feedback holds back a big share')
    .addOption(new Option('--warning-share <percent>', 'warn when transports held back by feedback (down, trial, suspended) carry this share of their tier\'s weight').default(25).argParser(percent))
    .action((opts: { warningShare: number }, cmd: Command) => {
      const io = controlIo(cmd);
      r.code = runCheckHealth(io.o.config, io.o.state, { warningShare: opts.warningShare / 100 }, io.out);
      io.logger.close();
    });
}

function wholeSeconds(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 86_400) throw new InvalidArgumentError(`expected whole seconds from 1 to 86400, got "${text}"`);
  return n;
}

function percent(text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || n > 100) throw new InvalidArgumentError(`expected a percentage from 0 to 100, got "${text}"`);
  return n;
}

/** Monitoring plugins exit 3 (UNKNOWN) on a usage error, never 64. */
export const CHECK_HEALTH_USAGE = HEALTH.UNKNOWN;
