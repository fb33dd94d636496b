/**
 * npm run bench:warmup: lookups/s with warm-up on beside the same pool
 * without it, in one run (alternated rounds, medians; goal >= 0.95x):
 * one instance on 100,000 distinct keys, and 4 concurrent instances on one
 * state file. "on, open": smtp2 warms with a cap it never reaches (every
 * transaction does the warm-up bookkeeping); "on, capped": its cap is used
 * up at once and the others take the mail.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, keyLines, median, runPipe } from './common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const KEYS = 100_000;
const dir = mkdtempSync(join(tmpdir(), 'postbal-bench-warmup-'));
const POOL = '{3}smtp0:\n{2}smtp1:\n{1}smtp2:';
const configs = {
  off: `${POOL}\n`,
  'on, open': `${POOL} warmup=999999999\n`,
  'on, capped': `${POOL} warmup=20\n`,
};
type Name = keyof typeof configs;
const files = Object.fromEntries(Object.entries(configs).map(([name, text], i) => {
  const f = join(dir, `p${i}.cf`);
  writeFileSync(f, text);
  return [name, f];
})) as Record<Name, string>;

let run = 0;

/** CPU (ms) used by this process's children that have exited: cutime + cstime of /proc/self/stat (100 Hz ticks). */
function childCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}
async function one(name: Name): Promise<number> {
  const r = await runPipe(process.execPath, [BIN, '-c', files[name], '-s', join(dir, `s${run++}.state`), '--syslog', 'none'], keyLines(`k${run}-`, KEYS));
  if (r.replies !== KEYS) throw new Error(`expected ${KEYS} replies, got ${r.replies}`);
  return (KEYS / r.ms) * 1000;
}

async function four(name: Name): Promise<number> {
  const state = join(dir, `m${run++}.state`);
  const per = KEYS / 4;
  const t0 = performance.now();
  const runs = await Promise.all([0, 1, 2, 3].map((i) => runPipe(process.execPath, [BIN, '-c', files[name], '-s', state, '--syslog', 'none'], keyLines(`m${run}-${i}-`, per))));
  const total = runs.reduce((s, x) => s + x.replies, 0);
  if (total !== KEYS) throw new Error(`expected ${KEYS} replies, got ${total}`);
  return (KEYS / (performance.now() - t0)) * 1000;
}

try {
  for (const [label, measure] of [['one instance', one], ['4 instances, one state file', four]] as const) {
    const rates: Record<Name, number[]> = { off: [], 'on, open': [], 'on, capped': [] };
    const cpu: Record<Name, number[]> = { off: [], 'on, open': [], 'on, capped': [] };
    const names = Object.keys(configs) as Name[];
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of r % 2 ? [...names].reverse() : names) {
        const before = childCpuMs();
        rates[name].push(await measure(name));
        cpu[name].push(((childCpuMs() - before) * 1000) / KEYS);
      }
    }
    const off = median(rates.off);
    console.log(`${label}, ${KEYS.toLocaleString('en-US')} distinct keys, ${ROUNDS} alternated rounds (medians): without warm-up ${Math.round(off)}/s, ${median(cpu.off).toFixed(2)} us CPU/lookup; ${
      (['on, open', 'on, capped'] as const).map((n) => `warm-up ${n} ${Math.round(median(rates[n]))}/s (${(median(rates[n]) / off).toFixed(3)}x), ${median(cpu[n]).toFixed(2)} us CPU/lookup`).join('; ')}; goal >= 0.95x`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
