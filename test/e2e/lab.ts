/**
 * A private Postfix instance for end-to-end tests: its own config, queue and
 * data directories in a temporary directory, loopback ports of its own, and
 * postbal spawned by master.cf exactly as the README tells users.
 * See ../shared/postfix-lab.md for the facts this is built on.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { installPostbalCopy } from '../helpers/postbal.js';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export function run(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { PATH, DEBIAN_FRONTEND: 'noninteractive' }, input: opts.input ?? '' });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { env: { PATH } }).status === 0;
}

/**
 * Makes sure Postfix (and rsyslog) are installed; installs them from Debian
 * when running as root.
 * @returns undefined when ready, or why not
 */
export function ensurePostfix(): string | undefined {
  const need = ['postfix', 'smtp-source', 'smtp-sink', 'postmap', 'rsyslogd'].filter((c) => !have(c));
  if (need.length === 0) return undefined;
  if (process.getuid?.() !== 0) return `missing ${need.join(', ')} and not root, so cannot install them`;
  try {
    run('apt-get', ['update', '-qq']);
    run('debconf-set-selections', [], { input: 'postfix postfix/main_mailer_type select No configuration\n' });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postfix', 'rsyslog']);
  } catch (err) {
    return `could not install postfix/rsyslog: ${(err as Error).message}`;
  }
  const still = ['postfix', 'smtp-source', 'smtp-sink', 'postmap', 'rsyslogd'].filter((c) => !have(c));
  return still.length ? `still missing after install: ${still.join(', ')}` : undefined;
}

/**
 * Makes sure a Debian package that provides `binary` is installed; installs
 * it when running as root. @returns undefined when ready, or why not
 */
export function ensureDebianPackage(pkg: string, binary: string): string | undefined {
  if (existsSync(binary)) return undefined;
  if (process.getuid?.() !== 0) return `${binary} missing (package ${pkg}) and not root, so cannot install it`;
  const env = { PATH, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { encoding: 'utf8', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { encoding: 'utf8', env });
  }
  return existsSync(binary) ? undefined : `could not install ${pkg}: ${r.stderr || r.stdout}`;
}

/** For a test: true when `pkg` cannot be had here, after saying so loudly (under CI a failure). */
export function packageUnavailable(t: TestContext, pkg: string, binary: string, what = 'TEST'): boolean {
  const why = ensureDebianPackage(pkg, binary);
  if (why === undefined) return false;
  const msg = `${what} SKIPPED: ${why}`;
  process.stderr.write(`\n${'!'.repeat(msg.length)}\n${msg}\n${'!'.repeat(msg.length)}\n`);
  if (process.env.CI) assert.fail(`${msg} (CI must run it)`);
  t.skip(msg);
  return true;
}

let readiness: string | undefined | null = null;

/**
 * For a test: true when Postfix cannot run here, after saying so loudly
 * (a skip, never a pass; under CI a failure).
 */
export function postfixUnavailable(t: TestContext): boolean {
  if (readiness === null) readiness = ensurePostfix();
  if (readiness === undefined) return false;
  const msg = `POSTFIX END-TO-END TEST SKIPPED: ${readiness}`;
  process.stderr.write(`\n${'!'.repeat(msg.length)}\n${msg}\n${'!'.repeat(msg.length)}\n`);
  if (process.env.CI) assert.fail(`${msg} (CI must run it)`);
  t.skip(msg);
  return true;
}

/** A private rsyslogd with `config` (DIR replaced by `dir`); resolves once `socket` exists. */
export async function startRsyslog(dir: string, config: string, socket: string): Promise<ChildProcess> {
  writeFileSync(join(dir, 'rsyslog.conf'), config.replaceAll('DIR', dir));
  const p = spawn('rsyslogd', ['-n', '-iNONE', '-f', join(dir, 'rsyslog.conf')], { stdio: 'ignore', env: { PATH } });
  await waitFor(() => existsSync(socket), (x) => x, 30_000);
  if (!existsSync(socket)) throw new Error(`rsyslogd did not create ${socket}`);
  return p;
}

export async function stopRsyslog(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
}

/**
 * For a test that runs its own rsyslogd on /dev/log (Postfix logs there and
 * nowhere else we can read with credentials): true when another daemon holds
 * it, after saying so loudly (under CI a failure).
 */
export function devLogTaken(t: TestContext): boolean {
  if (!existsSync('/dev/log')) return false;
  const msg = 'TEST SKIPPED: /dev/log belongs to a running syslog daemon; this test runs its own rsyslogd there';
  process.stderr.write(`\n${msg}\n`);
  if (process.env.CI) assert.fail(msg);
  t.skip(msg);
  return true;
}

/** Polls `probe` every 250 ms until `done` holds or `timeoutMs` passes; returns the last value. */
export async function waitFor<T>(probe: () => T, done: (v: T) => boolean, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (done(v) || Date.now() > end) return v;
    await sleep(250);
  }
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/**
 * One SMTP session to 127.0.0.1:`port` (from `localAddress` when given, e.g.
 * 127.0.0.9, so a server sees several clients): each message's MAIL, RCPT
 * and, when the RCPT is accepted, DATA. @returns each RCPT reply
 * @throws when the server refuses something other than a RCPT that may fail, or goes away
 */
export async function smtpSession(port: number, messages: readonly { from: string; to: string }[], opts: { rcptMayFail?: boolean; localAddress?: string } = {}): Promise<string[]> {
  const rcptReplies: string[] = [];
  const sock = connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
  sock.setEncoding('latin1');
  let buf = '';
  const waiters: { resolve: (reply: string) => void; reject: (err: Error) => void }[] = [];
  sock.on('data', (d: string) => {
    buf += d;
    for (;;) {
      // A reply ends with a line whose 4th character is a space.
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(buf);
      if (!m) break;
      buf = buf.slice(m[0].length);
      waiters.shift()?.resolve(m[0]);
    }
  });
  const gone = (err: Error): void => {
    for (const w of waiters.splice(0)) w.reject(err);
  };
  sock.on('close', () => gone(new Error('connection closed')));
  sock.on('error', (err) => gone(err));
  const reply = (): Promise<string> => new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  const cmd = async (line: string, expect: string, mayFail = false): Promise<string> => {
    const p = reply();
    sock.write(`${line}\r\n`);
    const got = await p;
    if (!got.startsWith(expect) && !mayFail) throw new Error(`SMTP ${line}: ${got.trim()}`);
    return got.trim();
  };
  try {
    const greeting = reply();
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    if (!(await greeting).startsWith('220')) throw new Error('no SMTP greeting');
    await cmd('EHLO lab.test', '250');
    for (const m of messages) {
      await cmd(`MAIL FROM:<${m.from}>`, '250');
      const rcpt = await cmd(`RCPT TO:<${m.to}>`, '250', opts.rcptMayFail);
      rcptReplies.push(rcpt);
      if (!rcpt.startsWith('250')) {
        await cmd('RSET', '250');
        continue;
      }
      await cmd('DATA', '354');
      await cmd(`Subject: postbal lab\r\n\r\ntest\r\n.`, '250');
    }
    await cmd('QUIT', '221');
    return rcptReplies;
  } finally {
    sock.destroy();
  }
}

export interface LabOptions {
  /**
   * main.cf lines that point Postfix at postbal: PBMAP for the lookup table,
   * PBPOLICY for check_policy_service (PBPORT for the port in the tcp form).
   */
  readonly mapLines: readonly string[];
  /**
   * Where the spawn service listens: `private` (the default, what the README
   * shows first: a unix socket in Postfix's private/, which only Postfix can
   * open; lookups over socketmap), or `tcp` (127.0.0.1:PBPORT, tcp_table, as
   * postbal.pl's users have it; any local user can connect).
   */
  readonly listen?: 'private' | 'tcp';
  /** postbal.cf content (use SINKPORT for the sink's port). */
  readonly pool: string;
  /** Extra postbal arguments. */
  readonly postbalArgs?: readonly string[];
  /** Words before postbal's argv (e.g. /usr/bin/env VAR=value to run it under libfaketime; use STATEDIR, no spaces). */
  readonly argvPrefix?: readonly string[];
  /**
   * A tcp_table helper program to spawn instead of postbal (a baseline), as
   * its source text; run as `perl FILE` (use SINKPORT for the sink's port).
   */
  readonly perlHelper?: string;
  /**
   * Postfix logs through syslog(3) (/dev/log) instead of its own postlogd
   * file, and this is the file the test's syslog daemon writes its lines to
   * (traditional format): what `log()` and `delivered()` read.
   */
  readonly syslogFile?: string;
  /** Spawn `postbal policy ARGS` on the helper port instead of the lookup helper (STATEDIR: the state directory, owned by the user postbal runs as). */
  readonly policyArgs?: readonly string[];
  /**
   * No spawn service: `postbal daemon`, started by the test, serves PBMAP
   * (socketmap on private/postbal-map) and PBPOLICY (private/postbal-policy).
   */
  readonly daemon?: boolean;
}

export interface Delivered {
  /** Per delivering service: its syslog name after "postfix-" (smtp0.., relay), else the program (smtp, discard). */
  readonly sent: Map<string, number>;
  /** Per recipient domain, per delivering service. */
  readonly byDomain: Map<string, Map<string, number>>;
  readonly sentTotal: number;
  readonly bounced: number;
  readonly deferred: number;
}

export class PostfixLab {
  readonly dir: string;
  readonly smtpPort: number;
  readonly sinkPort: number;
  readonly postbalPort: number;
  readonly postbalBin: string;
  /** How postmap reaches the spawn service from outside the queue directory. */
  #map = '';
  #syslogFile: string | undefined;
  readonly statePath: string;
  #sink: ChildProcess | undefined;
  #started = false;

  private constructor(dir: string, smtpPort: number, sinkPort: number, postbalPort: number) {
    this.dir = dir;
    this.smtpPort = smtpPort;
    this.sinkPort = sinkPort;
    this.postbalPort = postbalPort;
    this.postbalBin = installPostbalCopy(join(dir, 'app'));
    this.statePath = join(dir, 'state', 'postbal.state');
  }

  static async start(opts: LabOptions): Promise<PostfixLab> {
    const dir = mkdtempSync('/tmp/postbal-lab-');
    chmodSync(dir, 0o755);
    const lab = new PostfixLab(dir, await freePort(), await freePort(), await freePort());
    try {
      await lab.#start(opts);
    } catch (err) {
      lab.stop();
      throw err;
    }
    return lab;
  }

  get etc(): string {
    return join(this.dir, 'etc');
  }

  get maillog(): string {
    return this.#syslogFile ?? join(this.dir, 'maillog');
  }

  async #start(opts: LabOptions): Promise<void> {
    const { dir } = this;
    for (const d of ['etc', 'spool', 'data', 'state']) mkdirSync(join(dir, d));
    // The state directory belongs to the user postbal runs as, mode 0700 (README).
    const nobody = Number(run('id', ['-u', 'nobody']).trim());
    const nogroup = Number(run('id', ['-g', 'nobody']).trim());
    chownSync(join(dir, 'state'), nobody, nogroup);
    chmodSync(join(dir, 'state'), 0o700);
    const postfixUid = Number(run('id', ['-u', 'postfix']).trim());
    chownSync(join(dir, 'data'), postfixUid, 0);
    this.#syslogFile = opts.syslogFile;
    const privateForm = (opts.listen ?? (opts.perlHelper !== undefined ? 'tcp' : 'private')) === 'private';
    // The service name is the socket's name under private/ (master.cf column 2 "-": private).
    const service = privateForm ? 'postbal' : `127.0.0.1:${this.postbalPort}`;
    this.#map = privateForm ? `socketmap:unix:${dir}/spool/private/postbal:postbal` : `tcp:127.0.0.1:${this.postbalPort}`;
    const daemon = opts.daemon === true;
    const sub = (s: string): string => s
      // Relative to the queue directory, Postfix's daemons' working directory (chrooted or not).
      .replaceAll('PBMAP', daemon ? 'socketmap:unix:private/postbal-map:postbal' : privateForm ? 'socketmap:unix:private/postbal:postbal' : `tcp:127.0.0.1:${this.postbalPort}`)
      .replaceAll('PBPOLICY', daemon ? 'unix:private/postbal-policy' : privateForm ? 'unix:private/postbal' : `inet:127.0.0.1:${this.postbalPort}`)
      .replaceAll('PBPORT', String(this.postbalPort)).replaceAll('SINKPORT', String(this.sinkPort)).replaceAll('STATEDIR', join(dir, 'state'));
    writeFileSync(join(dir, 'etc/postbal.cf'), sub(opts.pool));
    chmodSync(join(dir, 'etc/postbal.cf'), 0o644);
    const helper = join(dir, 'etc/helper.pl');
    if (opts.perlHelper !== undefined) {
      writeFileSync(helper, sub(opts.perlHelper));
      chmodSync(helper, 0o644);
    }
    writeFileSync(join(dir, 'etc/main.cf'), [
      'compatibility_level = 3.6',
      `queue_directory = ${dir}/spool`,
      `data_directory = ${dir}/data`,
      'command_directory = /usr/sbin',
      'daemon_directory = /usr/lib/postfix/sbin',
      'shlib_directory = /usr/lib/postfix',
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'myhostname = lab.test',
      'mydomain = lab.test',
      'myorigin = lab.test',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'mydestination =',
      'alias_maps =',
      'alias_database =',
      'local_recipient_maps =',
      'smtp_dns_support_level = disabled',
      'mynetworks = 127.0.0.0/8',
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      ...(opts.syslogFile === undefined ? [`maillog_file = ${dir}/maillog`, `maillog_file_prefixes = ${dir}`] : []),
      'smtp_connection_cache_on_demand = no',
      'default_destination_concurrency_limit = 20',
      'queue_run_delay = 1s',
      'minimal_backoff_time = 1s',
      'maximal_backoff_time = 2s',
      'smtpd_client_connection_count_limit = 0',
      'smtpd_client_connection_rate_limit = 0',
      'in_flow_delay = 0',
      `${service}_time_limit = 3600s`,
      ...opts.mapLines.map(sub),
      '',
    ].join('\n'));
    const svc = (name: string, type: string, priv: string, unpriv: string, wakeup: string, limit: string, cmd: string): string =>
      `${name.padEnd(10)} ${type.padEnd(10)} ${priv} ${unpriv} n ${wakeup} ${limit} ${cmd}`;
    writeFileSync(join(dir, 'etc/master.cf'), [
      svc(`127.0.0.1:${this.smtpPort}`, 'inet', 'n', '-', '-', '-', 'smtpd'),
      svc('pickup', 'unix', 'n', '-', '60', '1', 'pickup'),
      svc('cleanup', 'unix', 'n', '-', '-', '0', 'cleanup'),
      svc('qmgr', 'unix', 'n', '-', '300', '1', 'qmgr'),
      svc('rewrite', 'unix', '-', '-', '-', '-', 'trivial-rewrite'),
      svc('bounce', 'unix', '-', '-', '-', '0', 'bounce'),
      svc('defer', 'unix', '-', '-', '-', '0', 'bounce'),
      svc('trace', 'unix', '-', '-', '-', '0', 'bounce'),
      svc('verify', 'unix', '-', '-', '-', '1', 'verify'),
      svc('flush', 'unix', 'n', '-', '1000?', '0', 'flush'),
      svc('proxymap', 'unix', '-', '-', '-', '-', 'proxymap'),
      svc('smtp', 'unix', '-', '-', '-', '-', 'smtp'),
      `${svc('relay', 'unix', '-', '-', '-', '-', 'smtp')}\n  -o syslog_name=postfix-relay`,
      svc('showq', 'unix', 'n', '-', '-', '-', 'showq'),
      svc('error', 'unix', '-', '-', '-', '-', 'error'),
      svc('retry', 'unix', '-', '-', '-', '-', 'error'),
      svc('discard', 'unix', '-', '-', '-', '-', 'discard'),
      svc('anvil', 'unix', '-', '-', '-', '1', 'anvil'),
      svc('scache', 'unix', '-', '-', '-', '1', 'scache'),
      svc('postlog', 'unix-dgram', 'n', '-', '-', '1', 'postlogd'),
      ...[0, 1, 2].map((n) => `${svc(`smtp${n}`, 'unix', '-', '-', '-', '-', 'smtp')}\n  -o syslog_name=postfix-smtp${n} -o smtp_bind_address=127.0.0.${n + 2}`),
      // Exactly as the README tells users, with node's absolute path.
      daemon ? '' : `${privateForm ? svc(service, 'unix', '-', 'n', '-', '0', 'spawn') : svc(service, 'inet', 'n', 'n', '-', '0', 'spawn')}\n  user=nobody argv=${opts.perlHelper !== undefined
        ? `/usr/bin/perl ${helper}`
        : opts.policyArgs !== undefined
        ? `${process.execPath} ${this.postbalBin} policy --syslog none ${opts.policyArgs.map(sub).join(' ')}`
        : [...(opts.argvPrefix ?? []).map(sub), process.execPath, this.postbalBin, '--config', `${dir}/etc/postbal.cf`, '--state', this.statePath, ...(opts.postbalArgs ?? [])].join(' ')}`,
      '',
    ].join('\n'));
    run('postfix', ['-c', this.etc, 'set-permissions'], { allowFail: true });
    run('postfix', ['-c', this.etc, 'check']);
    this.#sink = spawn('smtp-sink', ['-u', 'nobody', `127.0.0.1:${this.sinkPort}`, '1000'], { stdio: 'ignore', env: { PATH } });
    run('postfix', ['-c', this.etc, 'start']);
    this.#started = true;
    // Wait until smtpd answers.
    for (let i = 0; i < 100; i++) {
      if (await canConnect(this.smtpPort)) return;
      await sleep(100);
    }
    throw new Error(`postfix did not listen on 127.0.0.1:${this.smtpPort}; maillog:\n${this.log()}`);
  }

  /** Injects messages with smtp-source (-N: distinct recipients). */
  inject(count: number, opts: { sender?: string; sessions?: number; distinct?: boolean } = {}): ChildProcess {
    const args = ['-s', String(opts.sessions ?? 20), '-m', String(count), '-f', opts.sender ?? 'bulk@lab.test', '-t', 'rcpt@remote.example'];
    if (opts.distinct !== false) args.unshift('-N');
    return spawn('smtp-source', [...args, `127.0.0.1:${this.smtpPort}`], { stdio: 'ignore', env: { PATH } });
  }

  log(): string {
    return existsSync(this.maillog) ? readFileSync(this.maillog, 'utf8') : '';
  }

  delivered(): Delivered {
    const sent = new Map<string, number>();
    const byDomain = new Map<string, Map<string, number>>();
    let sentTotal = 0;
    let bounced = 0;
    let deferred = 0;
    for (const line of this.log().split('\n')) {
      if (line.includes('status=sent')) {
        const m = /postfix(?:-([a-z0-9]+))?\/([a-z]+)\[/.exec(line);
        const name = m ? (m[1] ?? m[2]!) : 'other';
        sent.set(name, (sent.get(name) ?? 0) + 1);
        const domain = /to=<[^>]*@([^>]+)>/.exec(line)?.[1]?.toLowerCase() ?? '';
        const per = byDomain.get(domain) ?? new Map<string, number>();
        per.set(name, (per.get(name) ?? 0) + 1);
        byDomain.set(domain, per);
        sentTotal++;
      } else if (line.includes('status=bounced')) {
        bounced++;
      } else if (line.includes('status=deferred')) {
        deferred++;
      }
    }
    return { sent, byDomain, sentTotal, bounced, deferred };
  }

  /** Waits until `count` deliveries are logged (or bounces make that impossible). */
  async waitDelivered(count: number, timeoutMs = 180_000): Promise<Delivered> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const d = this.delivered();
      if (d.sentTotal >= count || d.sentTotal + d.bounced >= count || Date.now() > end) return d;
      await sleep(250);
    }
  }

  /** postmap -q through the spawn service (as root, which may enter private/). */
  postmap(key: string, map = this.#map): { out: string; code: number | null } {
    const r = spawnSync('postmap', ['-c', this.etc, '-q', key, map], { encoding: 'utf8', env: { PATH } });
    return { out: r.stdout.trim(), code: r.status };
  }

  /** Runs a postbal command (drain, status, ...) on this lab's config and state, as root. */
  control(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [this.postbalBin, '--config', join(this.etc, 'postbal.cf'), '--state', this.statePath, '--syslog', 'none', ...args], { encoding: 'utf8', env: { PATH } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Asks Postfix to retry deferred mail now (postqueue -f). */
  flush(): void {
    run('postqueue', ['-c', this.etc, '-f'], { allowFail: true });
  }

  /**
   * Sends messages over one SMTP session, one at a time: for envelopes
   * smtp-source cannot make (many domains, the null sender).
   */
  sendMail(messages: readonly { from: string; to: string }[], opts: { rcptMayFail?: boolean } = {}): Promise<string[]> {
    return smtpSession(this.smtpPort, messages, opts);
  }

  /** PIDs of postbal processes spawned for this lab. */
  postbalPids(): number[] {
    const r = spawnSync('pgrep', ['-f', this.postbalBin], { encoding: 'utf8', env: { PATH } });
    return r.stdout.split('\n').filter(Boolean).map(Number);
  }

  stop(): void {
    if (this.#started) run('postfix', ['-c', this.etc, 'stop'], { allowFail: true });
    this.#started = false;
    this.#sink?.kill('SIGKILL');
    for (const pid of this.postbalPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      execFileSync('pkill', ['-KILL', '-f', `${this.dir}/`], { env: { PATH }, stdio: 'ignore' });
    } catch {
      // nothing left
    }
    if (!process.env.POSTBAL_KEEP_LAB) rmSync(this.dir, { recursive: true, force: true });
  }
}
