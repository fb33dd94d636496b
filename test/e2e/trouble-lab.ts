import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { PostfixLab, freePort } from './lab.js';

/**
 * The troubled relay: transports 3:2:1 to one domain, smtp1's relay
 * answering 421 at RCPT (smtp-sink -Q rcpt), smtp2's next hop closed, fast
 * retries; optionally `postbal feedback` on the lab's maillog (plain lines,
 * so --trust-input), running as nobody as the serving instances do.
 */
export interface TroubledRelay {
  readonly lab: PostfixLab;
  /** Port of smtp2's next hop, closed until `openClosedHop`. */
  readonly closedPort: number;
  /** What feedback printed (its decisions), so far. */
  decisions(): string;
  openClosedHop(): Promise<void>;
  stop(): void;
}

export async function startTroubledRelay(withFeedback: boolean): Promise<TroubledRelay> {
  const badPort = await freePort();
  const closedPort = await freePort();
  const children: ChildProcess[] = [];
  const groups: ChildProcess[] = [];
  children.push(spawn('smtp-sink', ['-u', 'nobody', '-Q', 'rcpt', `127.0.0.1:${badPort}`, '100'], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }));
  const pool = `{3}smtp0:[127.0.0.1]:SINKPORT\n{2}smtp1:[127.0.0.1]:${badPort}\n{1}smtp2:[127.0.0.1]:${closedPort}\n`;
  const lab = await PostfixLab.start({ mapLines: ['transport_maps = PBMAP'], pool });
  let printed = '';
  if (withFeedback) {
    // tail as root (the maillog is root's), feedback as nobody like the
    // instances, joined by a real pipe: one shell pipeline in its own group.
    const q = (x: string): string => `'${x.replaceAll("'", "'\\''")}'`;
    const cmd = `exec tail -n +1 -F ${q(lab.maillog)} | exec runuser -u nobody -- ${q(process.execPath)} ${q(lab.postbalBin)} feedback --config ${q(join(lab.etc, 'postbal.cf'))} --state ${q(lab.statePath)} --trust-input --mail-owner postfix --syslog none --print`;
    const pipeline = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    pipeline.stdout.on('data', (d: Buffer) => { printed += d.toString(); });
    pipeline.stderr.on('data', (d: Buffer) => { printed += `STDERR: ${d.toString()}`; });
    groups.push(pipeline);
  }
  return {
    lab,
    closedPort,
    decisions: () => printed,
    async openClosedHop() {
      children.push(spawn('smtp-sink', ['-u', 'nobody', `127.0.0.1:${closedPort}`, '100'], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }));
      await sleep(300);
    },
    stop() {
      for (const g of groups) {
        try {
          process.kill(-g.pid!, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      for (const c of children) c.kill('SIGKILL');
      lab.stop();
    },
  };
}

/** Injects `count` messages and waits until all are delivered; @returns seconds taken and deferrals logged meanwhile */
export async function deliverAll(relay: TroubledRelay, count: number, timeoutMs: number): Promise<{ seconds: number; deferred: number; sent: Map<string, number> }> {
  const before = relay.lab.delivered();
  const t0 = Date.now();
  relay.lab.inject(count);
  for (;;) {
    const d = relay.lab.delivered();
    if (d.sentTotal - before.sentTotal >= count || Date.now() - t0 > timeoutMs) {
      const sent = new Map([...d.sent].map(([k, v]) => [k, v - (before.sent.get(k) ?? 0)]));
      return { seconds: (Date.now() - t0) / 1000, deferred: d.deferred - before.deferred, sent };
    }
    await sleep(100);
  }
}
