import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A Unix datagram socket like a syslog daemon's, which Node cannot bind
 * itself: python3 holds it. `reading`: lines are appended to `into`
 * (default nowhere); otherwise bound and never read, a stalled daemon.
 */
export function datagramSink(path: string, reading: boolean, into = '/dev/null'): ChildProcess {
  const py = [
    'import socket, time',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind(${JSON.stringify(path)})`,
    'print("ready", flush=True)',
    reading
      ? `f = open(${JSON.stringify(into)}, "ab", buffering=0)\nwhile True:\n    f.write(s.recv(65536) + b"\\n")`
      : 'time.sleep(3600)',
  ].join('\n');
  return spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Resolves once the socket is bound. */
export async function sinkReady(p: ChildProcess): Promise<void> {
  await new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
}
