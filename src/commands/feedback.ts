import { EX } from '../errors.js';
import { loadConfigFor } from './load-config.js';
import { readLines } from '../io/lines.js';
import { MAX_LOG_LINE } from '../feedback/log-line.js';
import { tagsOfPool, type AddressForm } from '../feedback/delivery.js';
import { classifyDelivery } from '../feedback/classify.js';
import { FeedbackEngine, describeEvent, type FeedbackEvent } from '../feedback/engine.js';
import { probeTargetOf, servicesWithFixedNextHop, type ProbeTarget } from '../feedback/probe-target.js';
import { probeSmtp } from '../io/smtp-probe.js';
import type { PoolConfig } from '../config/types.js';
import { judgeLine, type TrustPolicy } from '../feedback/trust.js';
import type { Logger } from '../log/types.js';
import { applyEvent } from '../feedback/apply.js';
import { FileStateStore } from '../state/file-store.js';
import { DEFAULTS } from '../defaults.js';
import { uidOf } from '../sys/users.js';
import { postconf } from '../sys/postconf.js';

/**
 * `postbal feedback`: reads Postfix's log on stdin until EOF (or forever,
 * behind a follower such as `journalctl -f -o json`), decides from each
 * believed delivery line of a configured transport whether that transport is
 * down or throttled by a destination, and writes the decision into the
 * shared state, where every serving instance sees it at its next lookup.
 */

export interface FeedbackOptions {
  readonly configFile: string;
  /** The shared state file, or `none`: decide and report only. */
  readonly statePath: string;
  readonly trustInput: boolean;
  /** A user name or uid; default: Postfix's `mail_owner`. */
  readonly mailOwner: string | undefined;
  readonly print: boolean;
  readonly logger: Logger;
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /** Wall-clock milliseconds. @default Date.now */
  readonly nowMs?: () => number;
}

/** Postfix's mail_owner, the user smtp(8) runs as; `postfix` when postconf cannot say. */
function mailOwnerName(): string {
  const asked = postconf(['-h', 'mail_owner']);
  return ('out' in asked && asked.out.trim()) || 'postfix';
}

/**
 * Probes, every probe interval, each transport down whose entries have a
 * fixed next hop; `onEvent` gets the `up` its answers bring. Rounds never
 * overlap, and the timer does not keep the process alive.
 */
function startProbes(pool: PoolConfig, engine: FeedbackEngine, onEvent: (e: FeedbackEvent) => void): { stop(): void } {
  const targets = pool.transports.map(probeTargetOf).filter((t): t is ProbeTarget => t !== undefined);
  if (targets.length === 0) return { stop() {} };
  let busy = false;
  const round = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      for (const service of engine.down) {
        const mine = targets.filter((t) => t.service === service);
        if (mine.length === 0) continue;
        const results = await Promise.all(mine.map((t) => probeSmtp(t)));
        for (const e of engine.probed(service, results.every((r) => r.ok))) onEvent(e);
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void round(), pool.feedback.probeIntervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** How often, at most, feedback repeats that it is given lines it does not believe. */
const DOUBT_REPORT_MS = 60_000;

/**
 * Says the first line feedback does not believe at once (a wrong mail_owner
 * or a missing --trust-input shows in the log within a second, not at an EOF
 * that a follower never reaches), then a count at most every minute while
 * more come. The timer does not keep the process alive.
 */
function doubtReporter(logger: Logger, summary: () => string): { noted(first: string): void; stop(): void } {
  let said = false;
  let pending = 0;
  const timer = setInterval(() => {
    if (pending === 0) return;
    pending = 0;
    logger.log('warning', summary());
  }, DOUBT_REPORT_MS);
  timer.unref();
  return {
    noted(first) {
      if (!said) {
        said = true;
        logger.log('warning', `feedback: ${first}; a count follows at most every minute while such lines come`);
      } else pending++;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Whose lines to believe, asked when the first line with credentials comes:
 * postconf takes a second (a fatal error and its sleep) on a host without
 * /etc/postfix/main.cf, and a feedback fed plain lines never needs it.
 */
function trustPolicyOnDemand(mailOwner: string | undefined, trustInput: boolean, logger: Logger): () => TrustPolicy {
  let policy: TrustPolicy | undefined;
  return () => {
    if (policy) return policy;
    const owner = mailOwner ?? mailOwnerName();
    policy = { mailOwnerUid: uidOf(owner), trustInput };
    logger.log(policy.mailOwnerUid === undefined ? 'warning' : 'info', policy.mailOwnerUid === undefined
      ? `feedback: no uid for mail_owner "${owner}": no line with credentials will be believed`
      : `feedback: believing lines sent by mail_owner ${owner} (uid ${policy.mailOwnerUid})`);
    return policy;
  };
}

/**
 * How this Postfix writes addresses in its log, asked at the first delivery
 * line: with `external` (the default since Postfix 3.5) a line with orig_to
 * (a rewritten recipient) can be believed; unknown is taken as `internal`,
 * where such lines cannot be told from crafted ones and are refused.
 */
function addressFormOnDemand(logger: Logger): () => AddressForm {
  let form: AddressForm | undefined;
  return () => {
    if (form) return form;
    const asked = postconf(['-h', 'info_log_address_format']);
    form = 'out' in asked && asked.out.trim() === 'external' ? 'external' : 'internal';
    if (form === 'internal') logger.log('info', `feedback: info_log_address_format is ${'out' in asked ? asked.out.trim() : `unknown (${asked.problem})`}: delivery lines with orig_to (a rewritten recipient) are not believed`);
    return form;
  };
}

const LINE_TALLY = { other: 'other', untrusted: 'untrusted', refused: 'refused', delivery: 'believed' } as const;

/**
 * Counts lines and decisions for postbal metrics (state/tally.ts). Most lines
 * lead to no transaction, so what is counted is added to the state at most
 * once a second, and at the end.
 */
function tallyKeeper(store: FileStateStore | undefined, pool: PoolConfig): { count(name: string): void; end(): void } {
  const flush = (): void => {
    if (!store || store.tally.empty) return;
    try {
      store.flushTally(pool);
    } catch {
      // Counters only: the next flush tries again.
    }
  };
  // Behind a follower lines may stop for hours: what was counted still reaches the state within a second.
  const timer = setInterval(flush, 1000);
  timer.unref();
  return {
    count(name) {
      store?.tally.add(name);
    },
    end() {
      clearInterval(timer);
      flush();
    },
  };
}

/** Runs until stdin ends. @returns the exit code */
export async function runFeedback(opts: FeedbackOptions, input: NodeJS.ReadableStream): Promise<number> {
  const parsed = loadConfigFor(opts.configFile, opts.err);
  if (!parsed) return EX.CONFIG;
  const tags = tagsOfPool(parsed.pool.transports);
  const { logger } = opts;
  const trustPolicy = trustPolicyOnDemand(opts.mailOwner, opts.trustInput, logger);
  const addressForm = addressFormOnDemand(logger);
  if (opts.trustInput) logger.log('warning', 'feedback: --trust-input: lines without sender credentials are believed; any local user who can write to this input can steer balancing');
  const store = opts.statePath === 'none'
    ? undefined
    : new FileStateStore({
      path: opts.statePath, memoSlots: DEFAULTS.memoSlots, memoTtlSec: DEFAULTS.repeatWindowSec,
      warn: (m) => logger.log('warning', `feedback: ${m}`), info: (m) => logger.log('info', `feedback: ${m}`),
    });
  const pool = parsed.pool;
  logger.log('info', `feedback: reading the log for ${[...new Set(tags.values())].join(' ')}; ${store ? `decisions go to ${store.path}` : 'report only (--state none)'}`);
  const engine = new FeedbackEngine(parsed.pool.feedback, servicesWithFixedNextHop(parsed.pool.transports));
  const now = opts.nowMs ?? Date.now;
  const counts = { lines: 0, deliveries: 0, untrusted: 0, refused: 0, skipped: 0 };
  // Behind a follower EOF never comes: lines it does not believe are said at once, then at most a minute apart.
  const doubts = doubtReporter(logger, () => `feedback: so far ${counts.deliveries} deliveries believed, ${counts.untrusted} not believed, ${counts.refused} refused`);
  /** A decision: into the state (every instance follows), the log and, with --print, stdout. */
  const tally = tallyKeeper(store, parsed.pool);
  const act = (event: FeedbackEvent, at: number): void => {
    tally.count(`feedback_decision:${event.kind}`);
    store?.transact(pool, (_state, trouble) => trouble.replace(applyEvent(trouble.current, pool, event, at)));
    if (event.kind === 'failing') return;
    const text = describeEvent(event);
    logger.log(event.kind === 'up' ? 'info' : 'warning', text);
    if (opts.print) opts.out(`${text}\n`);
  };
  const handle = (line: string): void => {
    counts.lines++;
    const judged = judgeLine(line, tags, opts.trustInput, trustPolicy, addressForm);
    tally.count(`feedback_line:${LINE_TALLY[judged.kind]}`);
    switch (judged.kind) {
      case 'other': counts.skipped++; return;
      case 'untrusted': counts.untrusted++; doubts.noted(judged.why); return;
      case 'refused': counts.refused++; doubts.noted(judged.why); return;
      case 'delivery': {
        counts.deliveries++;
        const at = now();
        for (const event of engine.observe(judged.service, judged.delivery, classifyDelivery(judged.delivery, pool.feedback.rules), at)) act(event, at);
        return;
      }
      default: {
        const unreachable: never = judged;
        return unreachable;
      }
    }
  };
  const probes = startProbes(parsed.pool, engine, (event) => act(event, now()));
  await readLines(input, MAX_LOG_LINE, handle);
  probes.stop();
  doubts.stop();
  tally.end();
  store?.close();
  logger.log('info', `feedback: end of input: ${counts.lines} lines, ${counts.deliveries} deliveries believed, ${counts.untrusted} not believed (sender not mail_owner), ${counts.refused} refused (an address that could be read as other fields), ${counts.skipped} other lines`);
  return EX.OK;
}
