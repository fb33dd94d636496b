/**
 * Run as root, every postbal command takes the identity of the state
 * directory's owner first: that owner (the user Postfix runs postbal as)
 * can plant links in its own directory, and root must never write through
 * them. Here the owner is played by `nobody`, who plants a link under the
 * state file's name and swaps every file that appears in the directory for a
 * link to a root-owned file while the commands run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, lstatSync, statSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { AsNobody, BIN, tempDir } from '../helpers/postbal.js';

const POOL = '{3}smtp0:\n{2}smtp1:\n{2}smtp3: warmup=200,500,1000\n';

/** Watches `dir` as user `uid` and replaces every regular file that appears there with a link to `target`. */
const SWAPPER = `
const fs = require('node:fs');
const [dir, target] = process.argv.slice(1);
const swap = (name) => {
  if (!name) return;
  const p = dir + '/' + name;
  try {
    if (!fs.lstatSync(p).isFile()) return;
    fs.unlinkSync(p);
    fs.symlinkSync(target, p);
  } catch {}
};
fs.watch(dir, (_e, name) => swap(name));
setInterval(() => { for (const n of fs.readdirSync(dir)) swap(n); }, 1);
process.stdout.write('ready\\n');
`;

test('root commands act as the state directory\'s owner: links planted there never make root write elsewhere', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('TEST SKIPPED: needs root (root running commands in another user\'s directory is what is tested)');
    return;
  }
  const d = tempDir();
  const nobody = new AsNobody(d.dir);
  const cfg = nobody.readable('p.cf', POOL);
  const stateDir = nobody.ownDir('state');
  const state = join(stateDir, 'postbal.state');
  const target = join(d.dir, 'precious');
  writeFileSync(target, 'root\'s file, not to be touched\n');
  chmodSync(target, 0o644);
  const swapper = spawn(process.execPath, ['-e', SWAPPER, stateDir, target], { uid: nobody.uid, gid: nobody.uid, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((r) => swapper.stdout.once('data', () => r()));
    const commands: [string[], string][] = [
      [['drain', 'smtp1'], ''], [['undrain', 'smtp1'], ''], [['mark-up', 'smtp1'], ''], [['clear-suspension', 'smtp1'], ''],
      [['warmup-stage', 'smtp3', '2'], ''], [['reset-stats'], ''], [['status'], ''], [['feedback', '--trust-input'], ''],
      [[], 'get a@example.com\nget b@example.com\n'],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [args, input] of commands) {
        // A state file that is a link to the target, as the owner may leave it.
        rmSync(state, { force: true });
        spawnSync('ln', ['-s', target, state], { uid: nobody.uid, gid: nobody.uid });
        spawnSync(process.execPath, [BIN, ...args, '-c', cfg, '-s', state, '--syslog', 'none'], { input, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
        // And with no file at all: the command creates one (the swapper races it).
        rmSync(state, { force: true });
        spawnSync(process.execPath, [BIN, ...args, '-c', cfg, '-s', state, '--syslog', 'none'], { input, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
        assert.equal(readFileSync(target, 'utf8'), 'root\'s file, not to be touched\n', `after ${args.join(' ') || 'serve'}`);
        assert.equal(statSync(target).mode & 0o7777, 0o644, `mode kept after ${args.join(' ') || 'serve'}`);
        assert.equal(statSync(target).uid, 0);
      }
    }
    // Nothing root-owned was left in the owner's directory: the commands ran as the owner.
    for (const name of readdirSync(stateDir)) assert.equal(lstatSync(join(stateDir, name)).uid, nobody.uid, name);
  } finally {
    swapper.kill('SIGKILL');
    d.cleanup();
  }
  // Without the swapper, root's drain lands and the file belongs to the owner.
  const e = tempDir();
  try {
    const owner = new AsNobody(e.dir);
    const c = owner.readable('p.cf', POOL);
    const s = join(owner.ownDir('state'), 'postbal.state');
    const drain = spawnSync(process.execPath, [BIN, 'drain', 'smtp1', '-c', c, '-s', s, '--syslog', 'none'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    assert.equal(drain.status, 0, drain.stderr);
    assert.ok(existsSync(s));
    assert.equal(statSync(s).uid, owner.uid);
    const status = spawnSync(process.execPath, [BIN, 'status', '-c', c, '-s', s, '--syslog', 'none'], { encoding: 'utf8' });
    assert.match(status.stdout, /smtp1:\s.*drained/i);
  } finally {
    e.cleanup();
  }
});
