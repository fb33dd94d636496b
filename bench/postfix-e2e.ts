/**
 * npm run bench:e2e: the same run of messages through a real Postfix with
 * (a) randmap:{...}, Postfix's in-process random choice, with 3:2:1 written as
 * repeated entries, (b) a constant-reply Perl tcp_table loop (the floor of
 * any tcp_table helper: its one answer is smtp0), and (c) postbal, alternated
 * in one run. Prints delivered messages/s for each (median over rounds), the
 * ratios, and each transport's share. Needs root (to install and run
 * Postfix) or an installed Postfix.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PostfixLab, ensurePostfix } from '../test/e2e/lab.js';
import { median } from './common.js';

const MESSAGES = Number(process.env.BENCH_E2E_MESSAGES ?? 2000);
const ROUNDS = Number(process.env.BENCH_E2E_ROUNDS ?? 5);
const WEIGHTS: Record<string, number> = { smtp0: 3, smtp1: 2, smtp2: 1 };
const relay = (n: number): string => `smtp${n}:[127.0.0.1]:SINKPORT`;

const why = ensurePostfix();
if (why) {
  console.log(`bench:e2e SKIPPED: ${why}`);
  process.exit(process.env.CI ? 1 : 0);
}

interface Mode {
  readonly name: string;
  readonly lab: PostfixLab;
  readonly rates: number[];
  readonly shares: Map<string, number>;
  delivered: number;
}

async function runOnce(mode: Mode): Promise<void> {
  const before = mode.lab.delivered();
  const t0 = performance.now();
  mode.lab.inject(MESSAGES);
  const target = before.sentTotal + MESSAGES;
  for (;;) {
    const d = mode.lab.delivered();
    if (d.sentTotal >= target) break;
    if (performance.now() - t0 > 300_000) throw new Error(`${mode.name}: only ${d.sentTotal - before.sentTotal} of ${MESSAGES} delivered in 300 s`);
    await sleep(50);
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = mode.lab.delivered();
  for (const name of Object.keys(WEIGHTS)) {
    mode.shares.set(name, (mode.shares.get(name) ?? 0) + (after.sent.get(name) ?? 0) - (before.sent.get(name) ?? 0));
  }
  mode.delivered += after.sentTotal - before.sentTotal;
  mode.rates.push(MESSAGES / seconds);
  console.log(`  ${mode.name}: ${MESSAGES} delivered in ${seconds.toFixed(2)} s (${(MESSAGES / seconds).toFixed(0)} msgs/s)`);
}

const pool = [0, 1, 2].map((n) => `{${WEIGHTS[`smtp${n}`]}}${relay(n)}`).join('\n');
const randmapEntries = Object.entries(WEIGHTS).flatMap(([name, w]) => Array.from({ length: w }, () => relay(Number(name.slice(4)))));
const labs: PostfixLab[] = [];
try {
  const randmap = await PostfixLab.start({ mapLines: [`transport_maps = randmap:{${randmapEntries.join(', ')}}`], pool });
  labs.push(randmap);
  const perl = await PostfixLab.start({
    mapLines: ['transport_maps = tcp:127.0.0.1:PBPORT'],
    pool,
    perlHelper: `$| = 1; while (<STDIN>) { print "200 ${relay(0)}\\n" }\n`,
  });
  labs.push(perl);
  const postbal = await PostfixLab.start({ mapLines: ['transport_maps = tcp:127.0.0.1:PBPORT'], listen: 'tcp', pool, postbalArgs: (process.env.BENCH_E2E_POSTBAL_ARGS ?? '').split(' ').filter(Boolean) });
  labs.push(postbal);
  const modes: Mode[] = [
    { name: 'randmap', lab: randmap, rates: [], shares: new Map(), delivered: 0 },
    { name: 'perl', lab: perl, rates: [], shares: new Map(), delivered: 0 },
    { name: 'postbal', lab: postbal, rates: [], shares: new Map(), delivered: 0 },
  ];
  console.log(`bench:e2e: ${ROUNDS} rounds of ${MESSAGES} messages (smtp-source -N -s 20), transport_maps, weights 3:2:1, alternated`);
  for (let r = 0; r < ROUNDS; r++) for (const m of r % 2 ? [...modes].reverse() : modes) await runOnce(m);
  for (const m of modes) {
    if (m.name === 'perl') {
      console.log(`${m.name.padEnd(8)} median ${median(m.rates).toFixed(0)} msgs/s (one constant answer: no balancing)`);
      continue;
    }
    const shares = Object.entries(WEIGHTS).map(([name, w]) => {
      const want = (m.delivered * w) / 6;
      const got = m.shares.get(name) ?? 0;
      return `${name} ${(100 * got / m.delivered).toFixed(2)}% (target ${(100 * w / 6).toFixed(2)}%, ${got - want >= 0 ? '+' : ''}${(100 * (got - want) / want).toFixed(2)}% off)`;
    });
    console.log(`${m.name.padEnd(8)} median ${median(m.rates).toFixed(0)} msgs/s; shares over ${m.delivered} messages: ${shares.join(', ')}`);
  }
  const [rm, pl, pb] = modes.map((m) => median(m.rates));
  console.log(`postbal / Perl loop throughput: ${(pb! / pl!).toFixed(3)} (goal >= 0.95)`);
  console.log(`postbal / randmap throughput:   ${(pb! / rm!).toFixed(3)}; Perl loop / randmap ${(pl! / rm!).toFixed(3)}`);
} finally {
  for (const lab of labs) lab.stop();
}
