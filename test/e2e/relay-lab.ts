/**
 * The whole relay of examples/relay/, brought up privately on free loopback
 * ports: HAProxy (mode tcp, send-proxy, smtpchk) in front of two Postfix
 * instances whose postscreen reads the PROXY header, `postbal policy` in
 * front of Debian's postfwd inside, `postbal` spreading outbound mail over
 * smtp0..smtp2 to an smtp-sink, and `postbal feedback` on both logs. The
 * shipped example files are used as they are, with addresses, ports and
 * paths replaced and the lab's own settings (queue, log file) appended.
 * Used by test/e2e/relay.test.ts and `npm run lab:relay`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { installPostbalCopy, ROOT } from '../helpers/postbal.js';
import { canConnect, ensureDebianPackage, ensurePostfix, freePort, run } from './lab.js';
import { POSTFWD, startPostfwd, type Postfwd } from './postfwd.js';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const EXAMPLES = join(ROOT, 'examples/relay');
export const HAPROXY = '/usr/sbin/haproxy';

/** Why the lab cannot run here (packages missing and not root), or undefined. */
export function relayUnavailable(): string | undefined {
  return ensurePostfix() ?? ensureDebianPackage('haproxy', HAPROXY) ?? ensureDebianPackage('postfwd', POSTFWD);
}

interface Instance {
  readonly name: string;
  readonly etc: string;
  /** postscreen behind HAProxy (PROXY protocol). */
  readonly postscreenPort: number;
  /** postscreen without the PROXY protocol (lab only: the hole, through HAProxy without send-proxy). */
  readonly plainPort: number;
  /** smtpd straight, no postscreen, no HAProxy (lab only: the throughput baseline). */
  readonly directPort: number;
  readonly maillog: string;
}


export class RelayLab {
  readonly dir: string;
  /** HAProxy's SMTP frontend (with send-proxy). */
  readonly smtpPort: number;
  /** HAProxy's frontend without send-proxy, to a postscreen without the PROXY protocol: the classic open relay. */
  readonly holePort: number;
  readonly sinkPort: number;
  readonly instances: Instance[] = [];
  readonly statePath: string;
  readonly postbalBin: string;
  #children: ChildProcess[] = [];
  #postfwd: Postfwd | undefined;
  #haproxyLog: string;

  private constructor(dir: string, smtpPort: number, holePort: number, sinkPort: number) {
    this.dir = dir;
    this.smtpPort = smtpPort;
    this.holePort = holePort;
    this.sinkPort = sinkPort;
    this.statePath = join(dir, 'state', 'postbal.state');
    this.postbalBin = installPostbalCopy(join(dir, 'app'));
    this.#haproxyLog = join(dir, 'haproxy.log');
  }

  static async start(): Promise<RelayLab> {
    const dir = mkdtempSync('/tmp/postbal-relay-');
    chmodSync(dir, 0o755);
    const lab = new RelayLab(dir, await freePort(), await freePort(), await freePort());
    try {
      await lab.#start();
    } catch (err) {
      lab.stop();
      throw err;
    }
    return lab;
  }

  get haproxyLog(): string {
    return existsSync(this.#haproxyLog) ? readFileSync(this.#haproxyLog, 'utf8') : '';
  }

  async #start(): Promise<void> {
    const { dir } = this;
    mkdirSync(join(dir, 'state'));
    const nobody = Number(run('id', ['-u', 'nobody']).trim());
    chownSync(join(dir, 'state'), nobody, Number(run('id', ['-g', 'nobody']).trim()));
    chmodSync(join(dir, 'state'), 0o700);
    this.#postfwd = await startPostfwd(dir, 'id=BLOCKED; recipient=~/^blocked/; action=REJECT 5.7.1 blocked by postfwd\n');
    const closed = await freePort();
    writeFileSync(join(dir, 'postbal.cf'), readFileSync(join(EXAMPLES, 'postbal.cf'), 'utf8').replace(/^(\{\d+\}smtp\d:)$/gm, `$1[127.0.0.1]:${this.sinkPort}`));
    writeFileSync(join(dir, 'postbal-policy.cf'), readFileSync(join(EXAMPLES, 'postbal-policy.cf'), 'utf8')
      .replace('127.0.0.1:10040', `127.0.0.1:${this.#postfwd.port}`).replace('192.0.2.20:10040', `127.0.0.1:${closed}`));
    for (const f of ['postbal.cf', 'postbal-policy.cf']) chmodSync(join(dir, f), 0o644);
    const ports = new Map<string, number>();
    for (const p of ['10025', '10026']) ports.set(p, await freePort());
    for (const name of ['mx1', 'mx2']) this.instances.push(await this.#instance(name, ports));
    this.#children.push(spawn('smtp-sink', ['-u', 'nobody', `127.0.0.1:${this.sinkPort}`, '1000'], { stdio: 'ignore', env: { PATH } }));
    for (const i of this.instances) {
      run('postfix', ['-c', i.etc, 'set-permissions'], { allowFail: true });
      run('postfix', ['-c', i.etc, 'check']);
      run('postfix', ['-c', i.etc, 'start']);
    }
    await this.#startHaproxy(ports);
    // postbal feedback on both instances' logs, as examples/relay/README.md wires it.
    const feedback = spawn('sh', ['-c', `exec tail -q -n 0 -F ${this.instances.map((i) => i.maillog).join(' ')} | exec ${process.execPath} ${this.postbalBin} feedback --trust-input --config ${dir}/postbal.cf --state ${this.statePath} --syslog none`], { stdio: 'ignore', uid: nobody, gid: nobody, env: { PATH } });
    this.#children.push(feedback);
    for (let k = 0; k < 150; k++) {
      if (await this.#healthy()) return;
      await sleep(100);
    }
    throw new Error(`HAProxy does not see both instances up:\n${this.haproxyLog}`);
  }

  async #instance(name: string, ports: Map<string, number>): Promise<Instance> {
    const etc = join(this.dir, name, 'etc');
    for (const d of ['etc', 'spool', 'data']) mkdirSync(join(this.dir, name, d), { recursive: true });
    chownSync(join(this.dir, name, 'data'), Number(run('id', ['-u', 'postfix']).trim()), 0);
    const inst: Instance = { name, etc, postscreenPort: ports.get(name === 'mx1' ? '10025' : '10026')!, plainPort: await freePort(), directPort: await freePort(), maillog: join(this.dir, name, 'maillog') };
    const portsOf = (text: string): string => text.replace(/127\.0\.0\.1:(10025|10026)\b/g, (_, p: string) => `127.0.0.1:${ports.get(p)}`);
    const main = portsOf(readFileSync(join(EXAMPLES, name, 'main.cf'), 'utf8'));
    const base = join(this.dir, name);
    writeFileSync(join(etc, 'main.cf'), `${main}
# --- lab only: a private instance (../shared/postfix-lab.md) ---
queue_directory = ${base}/spool
data_directory = ${base}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = ${inst.maillog}
maillog_file_prefixes = ${this.dir}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
smtp_dns_support_level = disabled
# The lab's clients: 127.0.0.8-15 are the relay's own; 127.0.0.200 is the world.
mynetworks = 127.0.0.1/32 127.0.0.8/29
smtp_connection_cache_on_demand = no
default_destination_concurrency_limit = 20
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
in_flow_delay = 0
`);
    const master = portsOf(readFileSync(join(EXAMPLES, name, 'master.cf'), 'utf8'))
      .replace(/192\.0\.2\.1([0-2])/g, (_, n: string) => `127.0.0.${Number(n) + 2}`)
      .replaceAll('user=postbal', 'user=nobody')
      .replace(/argv=\/usr\/local\/bin\/postbal --config \/etc\/postfix\/postbal\.cf/, `argv=${process.execPath} ${this.postbalBin} --config ${this.dir}/postbal.cf --state ${this.statePath}`)
      .replace(/argv=\/usr\/local\/bin\/postbal policy -c \/etc\/postfix\/postbal-policy\.cf/, `argv=${process.execPath} ${this.postbalBin} policy -c ${this.dir}/postbal-policy.cf --state ${this.dir}/state/policy.state`);
    writeFileSync(join(etc, 'master.cf'), `${master}
# --- lab only ---
# The same postscreen without the PROXY protocol, behind HAProxy without send-proxy: the hole.
127.0.0.1:${inst.plainPort} inet n - n - 1 postscreen
  -o postscreen_upstream_proxy_protocol= -o postscreen_cache_map=btree:$data_directory/postscreen_plain_cache
# smtpd straight, for the throughput baseline (smtp-source -> Postfix, no HAProxy).
127.0.0.1:${inst.directPort} inet n - n - - smtpd
`);
    return inst;
  }

  async #startHaproxy(ports: Map<string, number>): Promise<void> {
    const cfg = readFileSync(join(EXAMPLES, 'haproxy.cfg'), 'utf8')
      .replace('bind 0.0.0.0:25', `bind 127.0.0.1:${this.smtpPort}`)
      .replace(/127\.0\.0\.1:(10025|10026)\b/g, (_, p: string) => `127.0.0.1:${ports.get(p)}`)
      .replace('inter 2s fall 2 rise 2', 'inter 500ms fall 2 rise 2');
    const [mx1, mx2] = this.instances as [Instance, Instance];
    const file = join(this.dir, 'haproxy.cfg');
    writeFileSync(file, `${cfg}
# --- lab only: the same without the PROXY protocol (what the README warns about) ---
frontend smtp_noproxy
    bind 127.0.0.1:${this.holePort}
    default_backend postfix_noproxy

backend postfix_noproxy
    option smtpchk HELO haproxy.example.com
    server mx1 127.0.0.1:${mx1.plainPort} check inter 500ms
    server mx2 127.0.0.1:${mx2.plainPort} check inter 500ms
`);
    run(HAPROXY, ['-c', '-f', file]);
    const hap = spawn('sh', ['-c', `exec ${HAPROXY} -db -f ${file} >> ${this.#haproxyLog} 2>&1`], { stdio: 'ignore', env: { PATH } });
    this.#children.push(hap);
    for (let k = 0; k < 50 && !(await canConnect(this.smtpPort)); k++) await sleep(100);
  }

  /** HAProxy logs its servers' state changes; both up when the last word on each is UP (or none was DOWN). */
  serverUp(name: string): boolean {
    const lines = this.haproxyLog.split('\n').filter((l) => l.includes(`postfix_pool/${name} is`));
    return lines.length === 0 || /is UP/.test(lines.at(-1)!);
  }

  async #healthy(): Promise<boolean> {
    // Both instances answer an SMTP greeting through HAProxy's backends, and HAProxy reports nothing down.
    const ok = await Promise.all(this.instances.map((i) => canConnect(i.postscreenPort)));
    return ok.every(Boolean) && this.serverUp('mx1') && this.serverUp('mx2') && (await canConnect(this.smtpPort));
  }

  stopInstance(k: number): void {
    run('postfix', ['-c', this.instances[k]!.etc, 'stop'], { allowFail: true });
  }

  startInstance(k: number): void {
    run('postfix', ['-c', this.instances[k]!.etc, 'start']);
  }

  log(k: number): string {
    const f = this.instances[k]!.maillog;
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Delivered recipients (status=sent) across both instances, with the transport that delivered each. */
  delivered(): { byRecipient: Map<string, number>; byTransport: Map<string, number>; deferred: number } {
    const byRecipient = new Map<string, number>();
    const byTransport = new Map<string, number>();
    let deferred = 0;
    for (const k of [0, 1]) {
      for (const line of this.log(k).split('\n')) {
        if (line.includes('status=deferred')) deferred++;
        if (!line.includes('status=sent')) continue;
        const to = /to=<([^>]+)>/.exec(line)?.[1] ?? '';
        byRecipient.set(to, (byRecipient.get(to) ?? 0) + 1);
        const t = /postfix-(smtp\d)\/smtp\[/.exec(line)?.[1] ?? 'other';
        byTransport.set(t, (byTransport.get(t) ?? 0) + 1);
      }
    }
    return { byRecipient, byTransport, deferred };
  }

  /** smtp-source: `count` messages in `sessions` sessions to a port. @returns seconds */
  smtpSource(port: number, count: number, sessions: number, tag: string): number {
    const t0 = performance.now();
    const r = spawnSync('smtp-source', ['-N', '-s', String(sessions), '-m', String(count), '-f', `bulk@lab.test`, '-t', `${tag}@remote.example`, `127.0.0.1:${port}`], { encoding: 'utf8', env: { PATH } });
    if (r.status !== 0) throw new Error(`smtp-source failed: ${r.stderr}`);
    return (performance.now() - t0) / 1000;
  }

  stop(): void {
    for (const i of this.instances) run('postfix', ['-c', i.etc, 'stop'], { allowFail: true });
    for (const c of this.#children) c.kill('SIGKILL');
    this.#postfwd?.kill();
    spawnSync('pkill', ['-KILL', '-f', `${this.dir}/`], { env: { PATH } });
    if (!process.env.POSTBAL_KEEP_LAB) rmSync(this.dir, { recursive: true, force: true });
  }
}
