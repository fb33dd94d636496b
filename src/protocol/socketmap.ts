import { netstring } from './netstring.js';
import type { Outcome, Request } from './types.js';

/**
 * socketmap(5) request decoding and reply encoding. Pure; no I/O.
 *
 * Request: netstring `NAME SPACE KEY` (the name is the map name from
 * `socketmap:inet:host:port:NAME`; postbal serves one pool, so any name is
 * answered). Replies: `OK data`, `NOTFOUND `, `TEMP reason`, `PERM reason`.
 * Keys are not %XX-encoded in this protocol.
 */

export function decodeSocketmapRequest(payload: string): Request {
  const space = payload.indexOf(' ');
  if (space < 0) return { kind: 'invalid', reason: 'socketmap request is not "NAME KEY"', permanent: true };
  const key = payload.slice(space + 1);
  if (key.length === 0) return { kind: 'invalid', reason: 'empty key', permanent: true };
  return { kind: 'lookup', key };
}

/** Socketmap reply text may not hold a NUL or line break; tcp_table's %XX does not apply here. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex -- control bytes are what is being replaced
  return text.replace(/[\x00-\x1f]/g, ' ');
}

export function encodeSocketmapReply(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'found': return netstring(`OK ${outcome.value}`);
    case 'notFound': return netstring('NOTFOUND ');
    case 'tempFail': return netstring(`TEMP ${clean(outcome.reason)}`);
    case 'permFail': return netstring(`PERM ${clean(outcome.reason)}`);
    default: {
      const unreachable: never = outcome;
      return unreachable;
    }
  }
}
