/**
 * Faults injected while an instance serves: its state file deleted,
 * truncated, replaced by a directory or a symlink; its config deleted,
 * replaced with garbage or made huge; its state directory made read-only or
 * full. Every lookup must still be answered, with a warning where one is due.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync, openSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, Interactive, POOL_321, tempDir } from '../helpers/postbal.js';

/** Asks `n` lookups and checks each is a 200 from the pool. */
async function askAll(p: Interactive, prefix: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const reply = await p.ask(`get ${prefix}${i}@example.com`);
    assert.match(reply, /^200 smtp[012]:$/, `${prefix}${i}`);
    out.push(reply);
  }
  return out;
}

function status(cfg: string, state: string): string {
  return execFileSync(process.execPath, [BIN, 'status', '-c', cfg, '-s', state], { encoding: 'utf8' });
}

const STATE_FAULTS: [string, (state: string, dir: string) => void, RegExp][] = [
  ['deleted', (s) => unlinkSync(s), /deleted or replaced/],
  ['truncated to 10 bytes', (s) => truncateSync(s, 10), /replac/],
  ['replaced by a directory', (s) => { unlinkSync(s); mkdirSync(s); }, /not a regular file|deleted or replaced/],
  ['replaced by a symlink', (s, dir) => { writeFileSync(join(dir, 'target'), 'precious'); unlinkSync(s); symlinkSync(join(dir, 'target'), s); }, /symlink/],
  ['overwritten with garbage', (s) => writeFileSync(s, Buffer.alloc(300_000, 0x5a)), /replac|corrupt|magic/],
];

/** How many times each fault hits the same instance (`npm run faults`: 10). */
const REPEAT = Number(process.env.FAULT_REPEAT ?? 1);

for (const [name, inject, warning] of STATE_FAULTS) {
  test(`state file ${name} while serving: lookups go on, with a warning`, async (ctx) => {
    const t = tempDir();
    try {
      const cfg = t.file('p.cf', POOL_321);
      const state = join(t.dir, 's');
      const p = new Interactive(['-c', cfg, '-s', state, '--log-stderr']);
      await askAll(p, 'before', 5);
      for (let round = 0; round < REPEAT; round++) {
        if (round > 0) {
          // A clean path, and the instance back on a new file, before the next hit.
          // (After a refused path the instance serves from memory and retries the file every 10 s.)
          rmSync(state, { recursive: true, force: true });
          const until = Date.now() + 120_000; // a guard: the file is retried every 10 s
          for (let k = 0; !existsSync(state) && Date.now() < until; k++) {
            await sleep(500);
            await askAll(p, `ready${round}-${k}-`, 1);
          }
          assert.ok(existsSync(state), `round ${round}: the state file was not recreated`);
        }
        inject(state, t.dir);
        await askAll(p, `during${round}-`, 5);
        await sleep(1100); // past the 1 s re-check of the path
        await askAll(p, `after${round}-`, 5);
      }
      ctx.diagnostic(`${REPEAT} hit(s) on one instance`);
      assert.equal(await p.end(), 0);
      assert.match(p.stderr, warning);
      if (name === 'replaced by a symlink') assert.equal(readFileSync(join(t.dir, 'target'), 'utf8'), 'precious');
    } finally {
      t.cleanup();
    }
  });
}

const CONFIG_FAULTS: [string, (cfg: string) => void][] = [
  ['deleted', (c) => unlinkSync(c)],
  ['replaced with garbage', (c) => writeFileSync(c, '\u0000\u0001garbage {x}y\n')],
  ['grown past 1 MiB', (c) => writeFileSync(c, `${POOL_321}${'# padding\n'.repeat(120_000)}`)],
  ['replaced by a directory', (c) => { unlinkSync(c); mkdirSync(c); }],
  ['replaced by a FIFO', (c) => { unlinkSync(c); execFileSync('mkfifo', [c]); }],
];

for (const [name, inject] of CONFIG_FAULTS) {
  test(`config ${name} while serving: the last good config stays in force`, async (ctx) => {
    const t = tempDir();
    try {
      const cfg = t.file('p.cf', POOL_321);
      const p = new Interactive(['-c', cfg, '-s', 'none', '--log-stderr']);
      await askAll(p, 'before', 3);
      for (let round = 0; round < REPEAT; round++) {
        if (round > 0) {
          // Put a good config back, and let the instance read it.
          rmSync(cfg, { recursive: true, force: true });
          writeFileSync(cfg, POOL_321);
          await sleep(700);
          await askAll(p, `restored${round}-`, 2);
        }
        inject(cfg);
        await sleep(700);
        await askAll(p, `after${round}-`, 6);
      }
      ctx.diagnostic(`${REPEAT} hit(s) on one instance`);
      assert.equal(await p.end(), 0);
      assert.match(p.stderr, /keeping the last good configuration/);
    } finally {
      t.cleanup();
    }
  });
}

test('state directory full while serving (1 MiB tmpfs): lookups go on from memory, then recover', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to mount a tmpfs');
    return;
  }
  const d = tempDir();
  const mnt = join(d.dir, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt]);
  const running: Interactive[] = [];
  try {
    const cfg = d.file('p.cf', POOL_321);
    const state = join(mnt, 's');
    const p = new Interactive(['-c', cfg, '-s', state, '--log-stderr']);
    running.push(p);
    await askAll(p, 'before', 5);
    // The state file deleted and the space filled: a new one cannot be made. The test keeps the
    // deleted file open, so its pages stay taken when the instance closes it to reopen the path
    // (else they would be free again, and how many depends on what the file held).
    const held = openSync(state, 'r');
    unlinkSync(state);
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, 'fill')}`, 'bs=64k'], { stdio: 'ignore' });
    } catch {
      // dd stops with ENOSPC: that is the point
    }
    await sleep(1100);
    await askAll(p, 'full', 5);
    rmSync(join(mnt, 'fill'));
    closeSync(held);
    assert.equal(await p.end(), 0);
    assert.match(p.stderr, /ENOSPC/);
    assert.equal(p.stderr.match(/serving from memory/g)?.length, 1, p.stderr);
    const again = new Interactive(['-c', cfg, '-s', state, '--syslog', 'none']);
    running.push(again);
    await askAll(again, 'recovered', 2);
    assert.equal(await again.end(), 0);
    assert.match(status(cfg, state), /position: +\d+ picks/);
  } finally {
    for (const p of running) await p.kill();
    execFileSync('umount', ['-l', mnt]);
    d.cleanup();
  }
});

test('state file renamed away and a new pool written while serving: a fresh sequence, exact again', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL_321);
    const state = join(t.dir, 's');
    const p = new Interactive(['-c', cfg, '-s', state, '--syslog', 'none']);
    await askAll(p, 'a', 4);
    renameSync(state, `${state}.old`);
    writeFileSync(cfg, '{1}smtp0:\n{1}smtp1:\n');
    await sleep(1100);
    const replies = await askAll(p, 'b', 4);
    assert.deepEqual(replies, ['200 smtp0:', '200 smtp1:', '200 smtp0:', '200 smtp1:']);
    assert.equal(await p.end(), 0);
  } finally {
    t.cleanup();
  }
});
