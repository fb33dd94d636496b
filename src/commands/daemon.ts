import { unlinkSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { CommanderError } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { EX } from '../errors.js';
import { ConnectionSet, type ServeSocket } from '../io/connections.js';
import { guardProcess } from '../io/guard.js';
import { becomeStateOwner } from '../io/identity.js';
import {
  adoptListener, describeAddress, isProtocol, ListenError, newServer, openListener, sameAddress, takeInheritedSockets,
  type ListenSpec, type Protocol, type SocketAccess,
} from '../io/listeners.js';
import { serveConnection } from '../io/serve.js';
import { SystemdNotifier } from '../io/systemd-notify.js';
import { createLogger, loadSyslogLibraryWhileRoot } from '../log/create.js';
import type { Logger } from '../log/types.js';
import type { BackendSpec } from '../policy/backend.js';
import type { PolicySettings } from '../policy/spec.js';
import { socketmapWire, tcpTableWire } from '../protocol/wire.js';
import { gidOf, uidOf } from '../sys/users.js';
import { daemonCommand, type DaemonOptions } from './daemon/command-line.js';
import { PolicySlot } from './daemon/policy-slot.js';
import { resolveSettings } from './policy.js';
import { openLookupService, type LookupService } from './serve.js';

/**
 * `postbal daemon`: the composition root of one long-running process that
 * serves every Postfix connection of a host. The listeners are bound first
 * (as root when started so: sockets in Postfix's private/ directory), then
 * the state directory owner's identity is taken, then the services open:
 * the same lookup service and policy routing a spawned instance uses, each
 * once for all connections. Connections that arrive meanwhile wait.
 */

/** How long SIGTERM waits for replies under way (a policy service's answer) before cutting connections. */
const STOP_GRACE_MS = 30_000;
/** How long after a pick the daemon writes it to the state file (state/write-behind.ts). */
const WRITE_BEHIND_MS = 5;
/** At most one line this often about connections closed over --max-connections. */
const DROP_LOG_MS = 60_000;
/** How often counts not yet in the state file are added to it. */
const FLUSH_EVERY_MS = 1000;

interface Bound {
  readonly protocol: Protocol;
  readonly where: string;
  readonly server: Server;
  /** A unix socket this process created, removed at exit. */
  readonly created?: string;
}

type Services = { lookups?: LookupService; policy?: PolicySlot };

/** Runs `postbal daemon ARGS`. @returns the exit code */
export async function runDaemon(args: readonly string[], io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const specs: BackendSpec[] = [];
  const complain = (message: string): void => io.err(`${message}\n`);
  const cmd = daemonCommand(specs, io.out, complain);
  try {
    cmd.parse(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? EX.OK : EX.USAGE;
    throw err;
  }
  const o = cmd.opts<DaemonOptions>();
  const settings = policySettings(o, specs, complain);
  if (typeof settings === 'number') return settings;
  const logger = createLogger(o.logStderr ? 'stderr' : o.syslog, DEFAULTS.syslogTag, process.pid)!;
  const notifier = new SystemdNotifier(process.env);
  const connections = new ConnectionSet();
  const services: Services = {};
  let ready!: () => void;
  const started = new Promise<void>((resolve) => { ready = resolve; });
  const serveBy: Record<Protocol, ServeSocket> = {
    tcp: (s, stop) => serveConnection(s, s, tcpTableWire, services.lookups!.hooks, stop),
    socketmap: (s, stop) => serveConnection(s, s, socketmapWire, services.lookups!.hooks, stop),
    policy: (s, stop) => services.policy!.serve(s, stop),
  };
  const internalError = (err: unknown): void => logger.log('error', `daemon: internal error (please report): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  const onConnection = (protocol: Protocol) => (socket: Socket): void => {
    void started.then(() => connections.accept(socket, serveBy[protocol], internalError));
  };
  const bound = await bindAll(o, onConnection, logger).catch((err: unknown) => err as Error);
  if (bound instanceof Error) return fail(bound, logger, complain);
  const problem = openServices(o, settings, bound, services, logger);
  if (problem !== undefined) {
    closeBound(bound);
    // Connections that came in meanwhile are closed, not left waiting.
    void connections.close(0);
    ready();
    return fail(problem, logger, complain);
  }
  guardProcess(logger, internalError);
  logger.log('info', `daemon: serving ${bound.map((b) => `${b.protocol} on ${b.where}`).join(', ')}`);
  ready();
  void notifier.notify('READY=1', `STATUS=serving ${bound.length} listeners`);
  await runUntilStopped(o, settings, services, connections, notifier, logger);
  closeBound(bound);
  await connections.close(STOP_GRACE_MS);
  services.lookups?.close();
  services.policy?.close();
  logger.log('info', `daemon: stopped after ${connections.accepted} connections`);
  logger.close();
  return EX.OK;
}

/** Policy settings from -s, -d, --breaker and --policy-config, when any was given. */
function policySettings(o: DaemonOptions, specs: readonly BackendSpec[], complain: (m: string) => void): PolicySettings | undefined | number {
  if (specs.length === 0 && o.policyConfig === undefined) return undefined;
  return resolveSettings({ ...(o.default === undefined ? {} : { default: o.default }), ...(o.policyConfig === undefined ? {} : { config: o.policyConfig }), ...(o.breaker === undefined ? {} : { breaker: o.breaker }) }, specs, (m) => complain(m.replace(/^postbal policy:/, 'postbal daemon:')));
}

function fail(err: Error, logger: Logger, complain: (m: string) => void): number {
  const message = `postbal daemon: ${err.message}`;
  logger.log('error', message);
  logger.close();
  complain(message);
  return err instanceof ListenError ? EX.UNAVAILABLE : err instanceof UsageError ? EX.USAGE : EX.NOPERM;
}

class UsageError extends Error {}

/** Who the unix sockets belong to: --socket-owner, else Postfix's user when run as root. */
function socketAccess(o: DaemonOptions): SocketAccess {
  if (o.socketOwner) return { mode: o.socketMode, ...o.socketOwner };
  if (process.getuid?.() !== 0) return { mode: o.socketMode };
  const uid = uidOf('postfix');
  const gid = gidOf('postfix');
  return { mode: o.socketMode, ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }) };
}

/**
 * The inherited sockets, each matched to the --listen of its address (or
 * named by its FileDescriptorName=), then the other --listen addresses,
 * opened here.
 */
async function bindAll(o: DaemonOptions, onConnection: (p: Protocol) => (s: Socket) => void, logger: Logger): Promise<Bound[]> {
  const bound: Bound[] = [];
  const wanted: ListenSpec[] = [...(o.listen ?? [])];
  try {
    for (const inherited of takeInheritedSockets(process.env, process.pid)) {
      let protocol: Protocol | undefined;
      const server = newServer((s) => onConnection(protocol!)(s), o.maxConnections);
      const address = await adoptListener(inherited, server);
      const match = address && wanted.findIndex((w) => sameAddress(w.address, address));
      if (match !== undefined && match >= 0) protocol = wanted.splice(match, 1)[0]!.protocol;
      else if (inherited.name !== undefined && isProtocol(inherited.name)) protocol = inherited.name;
      const where = `${address ? describeAddress(address) : `fd ${inherited.fd}`} (from systemd)`;
      bound.push({ protocol: protocol ?? 'tcp', where, server });
      if (protocol === undefined) throw new UsageError(`the socket systemd passed as fd ${inherited.fd} (${where}) matches no --listen, and its name "${inherited.name ?? ''}" is not tcp, socketmap or policy (FileDescriptorName= in the .socket unit)`);
    }
    if (bound.length === 0 && wanted.length === 0) throw new UsageError('nothing to listen on: give --listen PROTOCOL:ADDRESS (repeatable), or start it from a systemd socket unit');
    const access = socketAccess(o);
    for (const spec of wanted) {
      const server = newServer(onConnection(spec.protocol), o.maxConnections);
      await openListener(spec, server, access);
      bound.push({ protocol: spec.protocol, where: describeAddress(spec.address), server, ...(spec.address.kind === 'unix' ? { created: spec.address.path } : {}) });
    }
  } catch (err) {
    closeBound(bound);
    throw err;
  }
  for (const b of bound) watchDrops(b, o.maxConnections, logger);
  logger.log('info', `daemon: listening: ${bound.map((b) => `${b.protocol} ${b.where}`).join(', ')}`);
  return bound;
}

/** A connection over --max-connections is closed at once; the log says so, at most once a minute per listener. */
function watchDrops(b: Bound, max: number, logger: Logger): void {
  let dropped = 0;
  let pending = false;
  let last = -Infinity;
  b.server.on('drop', () => {
    dropped++;
    if (pending) return;
    pending = true;
    setTimeout(() => {
      logger.log('warning', `daemon: ${dropped} connections to ${b.protocol} on ${b.where} closed at once: --max-connections ${max} were open`);
      dropped = 0;
      pending = false;
      last = Date.now();
    }, Math.max(0, last + DROP_LOG_MS - Date.now())).unref();
  });
}

function closeBound(bound: readonly Bound[]): void {
  for (const b of bound) {
    b.server.close();
    if (b.created !== undefined) {
      try {
        unlinkSync(b.created);
      } catch {
        // Already gone.
      }
    }
  }
}

/** Takes the state owner's identity (when root), then opens what the listeners need. @returns what went wrong */
function openServices(o: DaemonOptions, settings: PolicySettings | undefined, bound: readonly Bound[], services: Services, logger: Logger): Error | undefined {
  const wantsPolicy = bound.some((b) => b.protocol === 'policy');
  if (wantsPolicy && settings === undefined) return new UsageError('a policy listener needs policy services: -s NAME=ADDRESS:PORT or --policy-config FILE');
  try {
    loadSyslogLibraryWhileRoot(o.syslog);
    becomeStateOwner(o.state);
  } catch (err) {
    return err as Error;
  }
  if (bound.some((b) => b.protocol !== 'policy')) {
    services.lookups = openLookupService({
      configPath: o.config, statePath: o.state, logger, logLookups: o.logLookups === true, repeatWindowSec: o.repeatWindow, writeBehindMs: WRITE_BEHIND_MS,
      ...(o.algorithm ? { algorithm: o.algorithm } : {}),
    });
  }
  if (wantsPolicy) services.policy = new PolicySlot(settings!, o.policyState, logger, o.logRequests === true);
  return undefined;
}

/** Serves until SIGTERM or SIGINT; SIGHUP re-reads the config (and the policy file). */
function runUntilStopped(o: DaemonOptions, settings: PolicySettings | undefined, services: Services, connections: ConnectionSet, notifier: SystemdNotifier, logger: Logger): Promise<void> {
  const flush = setInterval(() => services.lookups?.handler.flush(), FLUSH_EVERY_MS);
  const reload = (): void => {
    void notifier.notify('RELOADING=1');
    const outcome = services.lookups?.reload();
    if (outcome !== undefined) logger.log(outcome === 'failed' ? 'error' : 'info', `daemon: SIGHUP: configuration ${o.config} ${outcome === 'loaded' ? 'reloaded' : outcome === 'unchanged' ? 'unchanged' : 'unusable, the running configuration stays in force'}`);
    if (services.policy && o.policyConfig !== undefined && settings !== undefined) {
      const next = resolveSettings({ config: o.policyConfig, ...(o.default === undefined ? {} : { default: o.default }), ...(o.breaker === undefined ? {} : { breaker: o.breaker }) }, [], (m) => logger.log('error', `daemon: SIGHUP: ${m.replace(/^postbal policy: /, '')}; the running policy services stay in force`));
      if (typeof next !== 'number') services.policy.replace(next);
    }
    void notifier.notify('READY=1', `STATUS=serving, ${connections.open} connections open`);
  };
  process.on('SIGHUP', reload);
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGHUP', reload);
      clearInterval(flush);
      logger.log('info', `daemon: ${signal}: finishing the replies under way on ${connections.open} connections, then stopping`);
      void notifier.notify('STOPPING=1');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
