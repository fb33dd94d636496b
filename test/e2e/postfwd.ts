/**
 * Debian's postfwd (postfwd2) as a real policy service for tests: a private
 * instance on a free loopback port with a rule file, killed with its whole
 * process group (it forks a cache and policy children).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { canConnect, freePort } from './lab.js';

export const POSTFWD = '/usr/sbin/postfwd2';

export interface Postfwd {
  readonly port: number;
  /** SIGKILL to postfwd and every child it forked. */
  kill(): void;
}


export async function startPostfwd(dir: string, rules: string): Promise<Postfwd> {
  const port = await freePort();
  const file = join(dir, 'postfwd.rules');
  const pidfile = join(dir, 'postfwd.pid');
  writeFileSync(file, rules);
  // No -L: postfwd would write its log lines into the policy connection.
  const r = spawnSync(POSTFWD, ['-f', file, '--interface', '127.0.0.1', '--port', String(port), '--user', 'nobody', '--group', 'nogroup',
    '--pidfile', pidfile, '--nodns', '--cache', '0', '-l', `postfwd-lab-${port}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`postfwd did not start: ${r.stderr}`);
  for (let i = 0; i < 100 && !(existsSync(pidfile) && (await canConnect(port))); i++) await sleep(100);
  return {
    port,
    // postfwd forks a cache and policy children that rename themselves "postfwd-lab-PORT::…";
    // the pidfile's process is not always their group leader, so they are found by that label.
    kill: () => {
      spawnSync('pkill', ['-KILL', '-f', `postfwd-lab-${port}( |:|$)`]);
    },
  };
}
