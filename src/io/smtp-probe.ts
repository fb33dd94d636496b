import { connect } from 'node:net';
import type { ProbeTarget } from '../feedback/probe-target.js';

/** The greeting must arrive within this much of the connect (haproxy's smtpchk timeout is of this order). */
export const PROBE_TIMEOUT_MS = 2000;
/** A greeting line longer than this is not an SMTP greeting. */
const MAX_GREETING = 4096;

/**
 * One SMTP probe: connect to the target from its source address, read the
 * greeting, say QUIT. Never throws.
 * @returns `ok` with the greeting, or why it failed
 */
export function probeSmtp(target: ProbeTarget, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    let settled = false;
    let buf = '';
    const sock = connect({ host: target.host, port: target.port, ...(target.localAddress ? { localAddress: target.localAddress } : {}) });
    const done = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ok) sock.end('QUIT\r\n');
      else sock.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, `no greeting within ${timeoutMs} ms`), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0 && buf.length < MAX_GREETING) return;
      const line = (nl < 0 ? buf : buf.slice(0, nl)).replace(/\r$/, '');
      // A multi-line greeting (220-…) is a greeting too.
      done(/^220[ -]/.test(line), line.slice(0, 200));
    });
    sock.on('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
    sock.on('close', () => done(false, 'connection closed before the greeting'));
  });
}
