import { chmodSync, chownSync, lstatSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { isAbsolute } from 'node:path';

/**
 * The daemon's listening sockets: parsed from `--listen PROTOCOL:ADDRESS`,
 * opened here or inherited from systemd (socket activation: fds from 3 on,
 * LISTEN_FDS and LISTEN_PID set for this process). An inherited socket is
 * matched to a `--listen` by its address, so one command line serves with
 * and without systemd; a socket no `--listen` names takes its protocol from
 * its FileDescriptorName=.
 */

export const PROTOCOLS = ['tcp', 'socketmap', 'policy'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export type Address =
  | { readonly kind: 'inet'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export interface ListenSpec {
  readonly protocol: Protocol;
  readonly address: Address;
}

export const LISTEN_EXPECTED = 'PROTOCOL:ADDRESS with PROTOCOL tcp, socketmap or policy and ADDRESS HOST:PORT or an absolute unix socket path (tcp:127.0.0.1:2526, socketmap:/var/spool/postfix/private/postbal)';

function isProtocol(s: string): s is Protocol {
  return (PROTOCOLS as readonly string[]).includes(s);
}

/** `tcp:127.0.0.1:2526`, `policy:[::1]:9998`, `socketmap:/run/postbal/map.sock`. @returns the spec, or what is wrong */
export function parseListenSpec(text: string): ListenSpec | { readonly problem: string } {
  const colon = text.indexOf(':');
  const protocol = colon < 0 ? text : text.slice(0, colon);
  if (!isProtocol(protocol)) return { problem: `expected ${LISTEN_EXPECTED}, got "${text}" (unknown protocol "${protocol}")` };
  const rest = text.slice(colon + 1);
  if (rest.startsWith('/')) {
    if (rest.length > 107) return { problem: `expected a unix socket path of at most 107 bytes, got ${rest.length} in "${text}"` };
    return { protocol, address: { kind: 'unix', path: rest } };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(rest);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65_535) return { problem: `expected ${LISTEN_EXPECTED}, got "${text}"` };
  return { protocol, address: { kind: 'inet', host: m[1] ?? m[2]!, port } };
}

export function describeAddress(a: Address): string {
  return a.kind === 'unix' ? a.path : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export interface InheritedSocket {
  readonly fd: number;
  /** FileDescriptorName= (systemd), when given. */
  readonly name: string | undefined;
}

/**
 * The sockets systemd passed to this process (sd_listen_fds(3)), and the
 * variables that say so removed, so no child takes them for its own.
 */
export function takeInheritedSockets(env: NodeJS.ProcessEnv, pid: number): InheritedSocket[] {
  const count = Number(env.LISTEN_FDS);
  const forUs = env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === pid;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isSafeInteger(count) || count < 1 || count > 64) return [];
  return Array.from({ length: count }, (_, i) => ({ fd: 3 + i, name: names[i] || undefined }));
}

/** The path a listening unix socket fd is bound to, from /proc (Node does not tell it for an fd). */
export function unixPathOfFd(fd: number): string | undefined {
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    if (inode === undefined) return undefined;
    for (const line of readFileSync('/proc/net/unix', 'latin1').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[6] === inode) return f[7];
    }
  } catch {
    // Not Linux, or no /proc: the socket is matched by its name only.
  }
  return undefined;
}

/** Who may connect to a unix socket the daemon creates. */
export interface SocketAccess {
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
}

export class ListenError extends Error {}

/** Resolves when `server` listens, rejects with what stopped it. */
function listening(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    start();
  });
}

/** Removes a socket file left by a daemon that is gone; refuses one in use, or anything that is not a socket. */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new ListenError(`${path} exists and is not a socket: not removed; choose another path`);
  const live = await new Promise<boolean>((resolve) => {
    const probe: Socket = connect(path);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new ListenError(`${path}: another process is listening there (a daemon already running?)`);
  unlinkSync(path);
}

/** A server listening on `spec`'s address, created here: a unix socket gets `access`'s owner and mode before it is announced. */
export async function openListener(spec: ListenSpec, server: Server, access: SocketAccess): Promise<void> {
  const { address } = spec;
  if (address.kind === 'inet') {
    await listening(server, () => server.listen({ host: address.host, port: address.port, exclusive: true }))
      .catch((err: NodeJS.ErrnoException) => { throw new ListenError(`cannot listen on ${describeAddress(address)}: ${err.code ?? err.message}`); });
    return;
  }
  if (!isAbsolute(address.path)) throw new ListenError(`${address.path}: expected an absolute path`);
  await clearStaleSocket(address.path);
  // No moment where another user could connect: created 0600, then opened up.
  const umask = process.umask(0o177);
  try {
    await listening(server, () => server.listen({ path: address.path, exclusive: true }));
  } catch (err) {
    throw new ListenError(`cannot listen on ${address.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  } finally {
    process.umask(umask);
  }
  try {
    if (access.uid !== undefined || access.gid !== undefined) chownSync(address.path, access.uid ?? -1, access.gid ?? -1);
    chmodSync(address.path, access.mode);
  } catch (err) {
    server.close();
    throw new ListenError(`cannot give ${address.path} its owner and mode ${access.mode.toString(8)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** A server on an inherited socket; resolves to the address it is bound to. */
export async function adoptListener(inherited: InheritedSocket, server: Server): Promise<Address | undefined> {
  await listening(server, () => server.listen({ fd: inherited.fd }))
    .catch((err: NodeJS.ErrnoException) => { throw new ListenError(`cannot use the socket passed as fd ${inherited.fd}: ${err.code ?? err.message}`); });
  const a = server.address();
  if (a !== null && typeof a === 'object') return { kind: 'inet', host: a.address, port: a.port };
  const path = unixPathOfFd(inherited.fd);
  return path === undefined ? undefined : { kind: 'unix', path };
}

export function sameAddress(a: Address, b: Address): boolean {
  if (a.kind === 'unix' || b.kind === 'unix') return a.kind === b.kind && a.kind === 'unix' && b.kind === 'unix' && a.path === b.path;
  const host = (h: string): string => (h === 'localhost' ? '127.0.0.1' : h);
  return a.port === b.port && host(a.host) === host(b.host);
}

/** A server for one protocol; half-open connections stay writable until every reply is out. */
export function newServer(onConnection: (socket: Socket) => void, maxConnections: number): Server {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  server.maxConnections = maxConnections;
  return server;
}

export { isProtocol };
