/**
 * Four instances answer pipelined bursts (1–300 lines at a time) while the
 * shared state file is deleted, replaced by a directory, overwritten with
 * garbage or truncated every few milliseconds. Under spawn(8) stderr is
 * Postfix's socket and a dead instance loses its replies, so: every request
 * gets exactly one reply, every instance exits 0 at EOF, stderr stays empty.
 *
 * `npm test` runs it for SABOTAGE_SECONDS=6; `npm run faults` for 40.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, POOL_321, tempDir } from '../helpers/postbal.js';

const SECONDS = Number(process.env.SABOTAGE_SECONDS ?? 6);
const INSTANCES = 4;

interface Tally {
  asked: number;
  answered: number;
  /** Temporary failures (400): allowed while the file is being destroyed. */
  failed: number;
  bad: string[];
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One instance fed bursts of 1..300 lines until `until`; each burst waits for all its replies. */
function drive(args: readonly string[], id: number, until: number): Promise<Tally> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: '/usr/bin:/bin' }, stdio: 'pipe' });
    const tally: Tally = { asked: 0, answered: 0, failed: 0, bad: [], stderr: '', code: null, signal: null };
    let pending = 0;
    let buf = '';
    let seq = 0;
    let rng = 0x9e3779b1 ^ id;
    const nextSize = (): number => {
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      return 1 + ((rng >>> 0) % 300);
    };
    const burst = (): void => {
      if (Date.now() >= until) {
        child.stdin.end();
        return;
      }
      const n = nextSize();
      let text = '';
      for (let k = 0; k < n; k++) text += `get i${id}k${seq++}@example.com\n`;
      pending = n;
      tally.asked += n;
      child.stdin.write(text);
    };
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        tally.answered++;
        // A lookup may fail temporarily while the file is being destroyed; never anything else.
        if (line.startsWith('400')) tally.failed++;
        else if (!/^200 smtp[012]:$/.test(line) && tally.bad.length < 5) tally.bad.push(line);
        if (--pending === 0) burst();
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      tally.stderr += d.toString();
    });
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      tally.code = code;
      tally.signal = signal;
      resolve(tally);
    });
    burst();
  });
}

/** Destroys the state file in turn every few milliseconds until `until`. */
async function sabotage(state: string, start: number, until: number): Promise<number> {
  let hits = 0;
  const faults: (() => void)[] = [
    () => unlinkSync(state),
    () => { rmSync(state, { recursive: true, force: true }); mkdirSync(state); },
    () => { rmSync(state, { recursive: true, force: true }); writeFileSync(state, Buffer.alloc(5000, 0x5a), { mode: 0o600 }); },
    () => truncateSync(state, 100),
    () => rmSync(state, { recursive: true, force: true }),
  ];
  // Each kind of fault has a phase of its own, then all of them in turn.
  const phase = (until - start) / (faults.length + 1);
  while (Date.now() < until) {
    const p = Math.floor((Date.now() - start) / phase);
    try {
      faults[p < faults.length ? p : hits % faults.length]!();
    } catch {
      // The path is in another shape this instant: the next fault applies.
    }
    hits++;
    await sleep(2 + (hits % 7));
  }
  rmSync(state, { recursive: true, force: true });
  return hits;
}

test(`sabotage: ${INSTANCES} instances answer bursts while the state file is destroyed for ${SECONDS} s`, async (ctx) => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const state = join(t.dir, 'state');
    const start = Date.now();
    const until = start + SECONDS * 1000;
    const args = ['-c', cfg, '-s', state, '--syslog', 'none'];
    const runs = Array.from({ length: INSTANCES }, (_, i) => drive(args, i, until));
    const hits = await sabotage(state, start, until);
    const tallies = await Promise.all(runs);
    const asked = tallies.reduce((s, x) => s + x.asked, 0);
    ctx.diagnostic(`${hits} faults injected; ${asked} requests; per instance: ${tallies.map((x) => `${x.answered}/${x.asked} (${x.failed} x 400) exit ${x.code}`).join(', ')}`);
    for (const [i, x] of tallies.entries()) {
      assert.equal(x.stderr, '', `instance ${i} wrote to stderr`);
      assert.equal(x.signal, null, `instance ${i} was killed by ${x.signal}`);
      assert.equal(x.code, 0, `instance ${i} exit code`);
      assert.equal(x.answered, x.asked, `instance ${i}: every request answered exactly once`);
      assert.deepEqual(x.bad, [], `instance ${i}: replies other than 200 or 400`);
    }
    assert.ok(hits > SECONDS * 50, `only ${hits} faults injected`);
  } finally {
    t.cleanup();
  }
});
