/**
 * npm run bench:policy: postbal policy beside hapolicy (Debian's, run as
 * `perl -T /usr/sbin/hapolicy`, installed by this bench when root) on the same
 * policy services, in one run:
 *  1. requests/s over one connection, one request at a time as smtpd sends
 *     them (alternated rounds, medians); goal >= 2x hapolicy;
 *     postbal with its shared state file (as deployed) and with --state none;
 *  2. what a hung service (1 s timeout, a good one behind it) costs over 200
 *     requests: postbal in one instance and in 4 instances in a row sharing
 *     the state (the breaker is shared: three timeouts in all, the three requests in a row that trip it); hapolicy
 *     measured over 5 requests and multiplied (it pays the timeout on each).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, median, spawnOnSocket } from './common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Requests per connection: a short-lived instance and a long-lived one. */
const LENGTHS = (process.env.BENCH_POLICY_REQUESTS ?? '2000,20000').split(',').map(Number);
const HAPOLICY = '/usr/sbin/hapolicy';
const REQUEST = 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\nsender=a@x.example\nrecipient=b@y.example\n\n';

/** A policy service in a child process (so it does not share this process's CPU time): `hang` never answers. */
async function startService(hang: boolean): Promise<{ port: number; child: ChildProcess }> {
  const code = `const s=require('net').createServer(c=>{c.on('error',()=>{});let b='';c.on('data',d=>{if(${hang})return;b+=d;let i;while((i=b.indexOf('\\n\\n'))>=0){b=b.slice(i+2);c.write('action=dunno\\n\\n');}});});s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  return { port, child };
}

/**
 * Runs a helper with a connected socket as stdin and stdout (as spawn(8) does);
 * asks `n` requests one at a time. @returns seconds, without the first request
 * (start-up) unless `withFirst`
 */
async function drive(cmd: string, args: readonly string[], n: number, withFirst = false): Promise<number> {
  // hapolicy writes its syslog complaints to stderr; under spawn(8) that would be the connection.
  const helper = await spawnOnSocket(cmd, args, true);
  let t0 = performance.now();
  await helper.ask(REQUEST, '\n\n');
  if (!withFirst) t0 = performance.now();
  for (let i = withFirst ? 1 : 0; i < n; i++) await helper.ask(REQUEST, '\n\n');
  const seconds = (performance.now() - t0) / 1000;
  await helper.close();
  return seconds;
}

if (!existsSync(HAPOLICY) && process.getuid?.() === 0) {
  spawnSync('apt-get', ['install', '-y', '-qq', 'hapolicy'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}
const haveHapolicy = existsSync(HAPOLICY);
if (!haveHapolicy) console.log('hapolicy not installed (apt-get install hapolicy): its columns are SKIPPED');
const dir = mkdtempSync(join(tmpdir(), 'postbal-bench-policy-'));
chmodSync(dir, 0o700);
const good = await startService(false);
const hung = await startService(true);
try {
  const hap = (...s: string[]): [string, string[]] => ['/usr/bin/perl', ['-T', HAPOLICY, ...s.flatMap((x) => ['-s', x])]];
  let stateNo = 0;
  const pbState = (state: string, ...s: string[]): [string, string[]] => [process.execPath, [BIN, 'policy', '--syslog', 'none', '--state', state, ...s.flatMap((x) => ['-s', x])]];
  const pb = (...s: string[]): [string, string[]] => pbState(join(dir, `policy${stateNo++}.state`), ...s);
  // A short connection pays Node's warm-up (the JIT); smtpd keeps its connection for up to
  // smtpd_policy_service_max_ttl (1000 s), so a busy server's instances live in the long case.
  for (const requests of LENGTHS) {
    const rates: Record<string, number[]> = { postbal: [], 'postbal --state none': [], hapolicy: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const names = ['postbal', 'postbal --state none', 'hapolicy'];
      for (const name of r % 2 ? names.reverse() : names) {
        if (name === 'hapolicy' && !haveHapolicy) continue;
        // hapolicy needs the priority field (its spec regex wants three colons).
        const spec = `one=127.0.0.1:${good.port}:10:1:30`;
        const [cmd, args] = name === 'postbal' ? pb(spec) : name === 'hapolicy' ? hap(spec) : pbState('none', spec);
        rates[name]!.push(requests / (await drive(cmd, args, requests)));
      }
    }
    const p = median(rates.postbal!);
    const pn = median(rates['postbal --state none']!);
    const h = haveHapolicy ? median(rates.hapolicy!) : 0;
    console.log(`requests/s over one connection of ${requests} requests, ${ROUNDS} alternated rounds (medians): postbal ${Math.round(p)} with its state file, ${Math.round(pn)} with --state none${haveHapolicy ? `; hapolicy ${Math.round(h)} (postbal ${(p / h).toFixed(2)}x, ${(pn / h).toFixed(2)}x; goal >= 2x)` : ''}`);
  }
  const hungSpec = `hung=127.0.0.1:${hung.port}:1:1:1`;
  const goodSpec = `good=127.0.0.1:${good.port}:2:1:30`;
  const one = await drive(...pb(hungSpec, goodSpec), 200, true);
  const shared = join(dir, 'shared.state');
  let four = 0;
  for (let k = 0; k < 4; k++) four += await drive(...pbState(shared, hungSpec, goodSpec), 50, true);
  let alone = 0;
  for (let k = 0; k < 4; k++) alone += await drive(...pbState('none', hungSpec, goodSpec), 50, true);
  console.log(`a hung service (1 s timeout) before a good one, 200 requests: postbal ${one.toFixed(2)} s in one instance; over 4 instances in a row ${four.toFixed(2)} s sharing the state file (three timeouts in all: 3 requests in a row trip the breaker), ${alone.toFixed(2)} s with --state none (three each)`);
  if (haveHapolicy) {
    const five = await drive(...hap(hungSpec, goodSpec), 5, true);
    console.log(`  hapolicy: ${five.toFixed(2)} s for 5 requests, so about ${(five / 5 * 200).toFixed(0)} s for 200 (it pays the timeout on every request)`);
  }
} finally {
  good.child.kill();
  hung.child.kill();
  rmSync(dir, { recursive: true, force: true });
}
