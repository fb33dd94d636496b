/**
 * npm run bench:feedback:
 *  1. the troubled relay (3:2:1 to one domain, smtp1's relay answering
 *     421 at RCPT, smtp2's next hop closed, fast retries) with a real Postfix:
 *     deferrals and seconds to deliver 1,000 messages, without feedback and
 *     with it, in one run (without takes minutes);
 *  2. how many log lines/s `postbal feedback` reads (recorded Postfix lines,
 *     plain, --trust-input, decisions to a state file);
 *  3. lookups/s of one instance with a trouble region in force (a transport
 *     ramping, a suspension) beside the same without: medians of alternated rounds.
 * Needs root for part 1 (installs and runs Postfix; BENCH_FEEDBACK_RELAY=0 skips
 * it); parts 2 and 3 run anywhere.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, keyLines, median, runPipe } from './common.js';
import { ensurePostfix } from '../test/e2e/lab.js';
import { deliverAll, startTroubledRelay } from '../test/e2e/trouble-lab.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MESSAGES = Number(process.env.BENCH_FEEDBACK_MESSAGES ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'postbal-fb-'));
const node = process.execPath;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

try {
  // 1. The troubled relay.
  const why = process.env.BENCH_FEEDBACK_RELAY === '0' ? 'BENCH_FEEDBACK_RELAY=0' : ensurePostfix();
  if (why) console.log(`troubled relay SKIPPED: ${why}`);
  else {
    for (const withFeedback of [false, true]) {
      const relay = await startTroubledRelay(withFeedback);
      try {
        const r = await deliverAll(relay, MESSAGES, 900_000);
        const sent = [...r.sent.values()].reduce((a, b) => a + b, 0);
        console.log(`troubled relay, ${withFeedback ? 'with feedback   ' : 'without feedback'}: ${sent}/${MESSAGES} delivered in ${r.seconds.toFixed(1)} s, ${r.deferred} deferrals (goal with feedback: <= 50 deferrals, <= 30 s)`);
      } finally {
        relay.stop();
      }
    }
  }

  // 2. Feedback's reading speed.
  const recorded = readFileSync(new URL('../../test/fixtures/postfix-maillog.txt', import.meta.url), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  const cfg = join(dir, 'p.cf');
  // smtp2's next hop is fixed, so its connection failures are its own (a ramp in part 3).
  writeFileSync(cfg, '{3}smtp0:\n{2}smtp1:\n{1}smtp2:[192.0.2.9]\n');
  const lines = 200_000;
  const input = Buffer.from(Array.from({ length: lines }, (_, i) => recorded[i % recorded.length]).join('\n') + '\n');
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const p = spawnSync(node, [BIN, 'feedback', '-c', cfg, '-s', join(dir, `fb-${r}.state`), '--syslog', 'none', '--trust-input', '--mail-owner', '102'], { input, maxBuffer: 1 << 26 });
    if (p.status !== 0) throw new Error(`feedback exited ${p.status}`);
    rates.push(lines / ((performance.now() - t0) / 1000));
  }
  console.log(`feedback reads ${fmt(median(rates))} log lines/s (recorded Postfix lines, ${fmt(lines)} per round; goal >= 20,000)`);

  // 3. Lookups/s with trouble in force, beside none.
  const keys = 100_000;
  const plain: number[] = [];
  const troubled: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const withTrouble of r % 2 ? [true, false] : [false, true]) {
      const state = join(dir, `lk-${r}-${withTrouble}.state`);
      // A state file with smtp1 suspended for a domain and smtp2 ramping.
      spawnSync(node, [BIN, '-c', cfg, '-s', state, '--syslog', 'none'], { input: 'get warm@x\n' });
      if (withTrouble) {
        const now = new Date();
        const stamp = `${now.toLocaleString('en-US', { month: 'short' })} ${String(now.getDate()).padStart(2, ' ')} ${now.toTimeString().slice(0, 8)}`;
        const fake = [
          ...[1, 2, 3].map((i) => `${stamp} mx postfix-smtp1/smtp[1]: A${i}BCDE: to=<u@example5.com>, relay=mx.example5.com[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (host mx.example5.com[192.0.2.1] said: 421 4.7.0 try again later)`),
          ...[1, 2, 3].map((i) => `${stamp} mx postfix-smtp2/smtp[2]: B${i}BCDE: to=<u@x.com>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to 192.0.2.9[192.0.2.9]:25: Connection refused)`),
          `${stamp} mx postfix-smtp2/smtp[2]: C1BCDE: to=<u@x.com>, relay=mx.x.com[192.0.2.9]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)`,
        ].join('\n');
        spawnSync(node, [BIN, 'feedback', '-c', cfg, '-s', state, '--syslog', 'none', '--trust-input'], { input: `${fake}\n` });
      }
      const run = await runPipe(node, [BIN, '-c', cfg, '-s', state, '--syslog', 'none'], keyLines(`t${r}-`, keys));
      if (run.replies !== keys) throw new Error(`expected ${keys} replies, got ${run.replies}`);
      (withTrouble ? troubled : plain).push((keys / run.ms) * 1000);
    }
  }
  const a = median(plain);
  const b = median(troubled);
  console.log(`lookups/s, 1 instance, ${fmt(keys)} keys: no trouble ${fmt(a)}, a suspension and a ramp in force ${fmt(b)} (${(b / a).toFixed(3)}x; goal >= 0.95)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
