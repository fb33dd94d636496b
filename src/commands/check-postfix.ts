import { lstatSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { parseMasterCf, type MasterService } from '../config/master-cf.js';
import type { PoolConfig } from '../config/types.js';
import { describeUser, uidOf } from '../sys/users.js';
import { postconf, SYSTEM_PATH } from '../sys/postconf.js';
import { isExecutable } from '../sys/files.js';
import { serviceOf } from '../config/service-name.js';

/**
 * `postbal check` against Postfix itself: a pool entry Postfix cannot run
 * (`smtpO:` for `smtp0:`) passes every check of the pool file and defers
 * all its mail with "mail transport unavailable". So check reads the
 * instance's master.cf (found with postconf, `-c DIR` for another instance)
 * and main.cf defaults, and says, naming the master.cf line: whether every
 * transport is a unix service of an smtp or lmtp daemon, whether its
 * syslog_name is what feedback looks for and its smtp_bind_address the
 * entry's source=, and whether the spawn service that runs postbal names a
 * program that is there and the state directory's owner as user=.
 */

export interface PostfixFindings {
  /** Why Postfix was not consulted (then nothing else is set). */
  readonly skipped?: string;
  readonly masterCf?: string;
  readonly errors: string[];
  readonly warnings: string[];
}

/** What `command -v postbal` would say here. */
function whereIsPostbal(): string | undefined {
  for (const dir of `${process.env.PATH ?? ''}${delimiter}${SYSTEM_PATH}`.split(delimiter)) {
    if (dir && isExecutable(join(dir, 'postbal'))) return join(dir, 'postbal');
  }
  return undefined;
}

/** The transports' checks. */
function checkTransports(pool: PoolConfig, poolFile: string, masterCf: string, services: readonly MasterService[], mainDefaults: { syslogName: string; bind: string }, f: PostfixFindings): void {
  const daemons = services.filter((s) => s.type === 'unix' && (s.command === 'smtp' || s.command === 'lmtp'));
  const seen = new Set<string>();
  for (const entry of pool.transports) {
    const service = serviceOf(entry.value);
    if (seen.has(service)) continue;
    seen.add(service);
    const svc = services.find((s) => s.name === service && s.type === 'unix');
    if (!svc) {
      f.errors.push(`${poolFile}:${entry.line}: transport ${service}: expected a unix service of an smtp or lmtp daemon in ${masterCf}, got none (there: ${daemons.map((s) => s.name).join(', ') || 'none'}); Postfix would defer its mail "mail transport unavailable"`);
      continue;
    }
    if (svc.command !== 'smtp' && svc.command !== 'lmtp') {
      f.errors.push(`${masterCf}:${svc.line}: ${service}: expected an smtp or lmtp daemon, got ${svc.command}`);
      continue;
    }
    const syslogName = svc.options.get('syslog_name') ?? mainDefaults.syslogName;
    const wanted = entry.syslogName ?? `postfix-${service}`;
    if (syslogName !== wanted) {
      f.warnings.push(`${masterCf}:${svc.line}: ${service}: its deliveries are logged as ${syslogName}/smtp, postbal feedback looks for ${wanted}/smtp (add -o syslog_name=${wanted} there, or syslog_name=${syslogName} to the pool entry on line ${entry.line})`);
    }
    const bind = svc.options.get('smtp_bind_address') ?? mainDefaults.bind;
    if (entry.source !== undefined && bind !== '' && bind !== entry.source) {
      f.errors.push(`${masterCf}:${svc.line}: ${service}: smtp_bind_address is ${bind}, but the pool entry on line ${entry.line} says source=${entry.source}: probes would test another address than mail leaves from`);
    }
  }
}

/** The spawn services that run the lookup helper. */
function checkSpawn(masterCf: string, services: readonly MasterService[], statePath: string, f: PostfixFindings): void {
  const runs = services.filter((s) => s.command === 'spawn' && s.argv?.some((a) => /(^|\/)postbal$/.test(a)) && !s.argv.includes('policy'));
  if (runs.length === 0) {
    f.warnings.push(`${masterCf}: no spawn service runs postbal (README: Postfix setup)`);
    return;
  }
  let owner: number | undefined;
  try {
    owner = statePath === 'none' ? undefined : lstatSync(dirname(resolve(statePath))).uid;
  } catch {
    owner = undefined;
  }
  for (const s of runs) {
    const program = s.argv![0]!;
    if (!isExecutable(program)) {
      const found = whereIsPostbal();
      f.warnings.push(`${masterCf}:${s.line}: argv= names ${program}, which is not there or not executable${found ? ` (command -v postbal: ${found})` : ''}: every lookup would fail`);
    }
    if (owner !== undefined && s.user !== undefined && uidOf(s.user) !== owner) {
      f.errors.push(`${masterCf}:${s.line}: user=${s.user}: expected the owner of ${dirname(resolve(statePath))}, ${describeUser(owner)}: serving instances of another user refuse the state and balance alone`);
    }
    if (s.type === 'inet') {
      f.warnings.push(`${masterCf}:${s.line}: ${s.name} is a TCP port: any local user can connect and take positions or warm-up caps (the private form: README, Who can ask)`);
    }
  }
}

/**
 * Checks `pool` against the Postfix instance in `postfixDir`, or, without
 * one, against the default instance when the pool file lives in its config
 * directory (a pool file elsewhere, a test or an example, belongs to none).
 */
export function checkAgainstPostfix(pool: PoolConfig, poolFile: string, statePath: string, postfixDir: string | undefined): PostfixFindings {
  const dirArgs = postfixDir === undefined ? [] : ['-c', postfixDir];
  const asked = postconf([...dirArgs, '-h', 'config_directory']);
  if ('problem' in asked) return { skipped: asked.problem, errors: [], warnings: [] };
  const configDir = asked.out.trim();
  if (postfixDir === undefined && dirname(resolve(poolFile)) !== resolve(configDir)) {
    return { skipped: `the pool file is not in ${configDir}; --postfix-config DIR checks it against that instance`, errors: [], warnings: [] };
  }
  const masterCf = join(postfixDir ?? configDir, 'master.cf');
  let text: string;
  try {
    text = readFileSync(masterCf, 'utf8');
  } catch (err) {
    return { skipped: `cannot read ${masterCf} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, errors: [], warnings: [] };
  }
  const main = postconf([...dirArgs, '-x', '-h', 'syslog_name', 'smtp_bind_address']);
  const defaults = ('out' in main ? main.out : 'postfix\n\n').split('\n');
  const findings: PostfixFindings = { masterCf, errors: [], warnings: [] };
  const services = parseMasterCf(text);
  checkTransports(pool, poolFile, masterCf, services, { syslogName: defaults[0]?.trim() || 'postfix', bind: defaults[1]?.trim() ?? '' }, findings);
  checkSpawn(masterCf, services, statePath, findings);
  return findings;
}
