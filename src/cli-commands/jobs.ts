import type { Command } from 'commander';
import { runFeedback } from '../commands/feedback.js';
import { runFleet } from '../commands/fleet.js';
import { controlIo, type Result } from './shared.js';

/** The jobs beside lookups: policy (parsed apart, hapolicy's line), feedback and the fleet agent. */
export function addJobs(program: Command, r: Result, version: string): void {
  program
    .command('policy')
    .description('failover and balancing for Postfix policy services, with hapolicy\'s options (-s NAME=ADDRESS:PORT[:PRIO[:WEIGHT[:TIMEOUT]]] ..., -d ACTION, -l, -v, -L); "postbal policy --help" tells more')
    .allowUnknownOption()
    .action(() => undefined);

  program
    .command('feedback')
    .description('read Postfix\'s log on stdin (journalctl -o json, rsyslog with sender credentials, or plain lines with --trust-input); mark transports down, or suspended for a destination that throttles them, in the shared state (--state none: report only)')
    .option('--trust-input', 'believe lines without sender credentials (plain syslog lines, tail -F of mail.log); any local user can forge those')
    .option('--mail-owner <user>', 'the user whose lines are believed (default: postconf -h mail_owner)')
    .option('--print', 'also print each decision on stdout')
    .action(async (opts: { trustInput?: boolean; mailOwner?: string; print?: boolean }, cmd: Command) => {
      // Its own name, so its lines can be filtered apart from the lookups'.
      const io = controlIo(cmd, 'postfix/postbal-feedback');
      r.code = await runFeedback({
        configFile: io.o.config, statePath: io.o.state, trustInput: opts.trustInput === true, mailOwner: opts.mailOwner, print: opts.print === true,
        logger: io.logger, out: io.out, err: io.err,
      }, process.stdin);
      io.logger.close();
    });

  program
    .command('fleet')
    .description('this host\'s link to the fleet named by postbal.cf\'s "fleet = redis://HOST:PORT": shares drains, feedback\'s decisions, warm-up counts and rates with the other hosts and leases capped and rated answers, every 250 ms, until SIGTERM (SIGHUP re-reads postbal.cf); lookups never wait on it')
    .action(async (_opts, cmd: Command) => {
      const io = controlIo(cmd, 'postfix/postbal-fleet');
      r.code = await runFleet({ configFile: io.o.config, statePath: io.o.state, version, logger: io.logger, err: io.err });
      io.logger.close();
    });
}
