import { TCP_TABLE_MAX_REPLY_BYTES } from './limits.js';
import { percentDecode, percentEncode } from './percent.js';
import type { Frame, Outcome, Request } from './types.js';

/**
 * tcp_table(5) request decoding and reply encoding. Pure; no I/O.
 *
 * Request: `get SPACE key NEWLINE`, key %XX-encoded. Replies: `200 data`,
 * `500 reason` (not found), `400 reason` (temporary failure).
 */

/** Decodes one framed line into a request. Never throws. */
export function decodeTcpTableRequest(frame: Frame): Request {
  if (typeof frame !== 'string') return { kind: 'invalid', reason: 'request line too long' };
  const line = frame;
  if (line.length < 5) {
    return { kind: 'invalid', reason: line.length === 0 ? 'empty request line' : 'request is not "get KEY"' };
  }
  // The verb is matched case-insensitively, as postbal.pl did.
  if ((line.charCodeAt(0) | 0x20) !== 0x67 || (line.charCodeAt(1) | 0x20) !== 0x65 || (line.charCodeAt(2) | 0x20) !== 0x74) {
    return { kind: 'invalid', reason: 'unknown request verb (only "get" is supported)' };
  }
  if (line.charCodeAt(3) !== 0x20) return { kind: 'invalid', reason: 'request is not "get KEY"' };
  const key = percentDecode(line.slice(4));
  if (key === undefined) return { kind: 'invalid', reason: 'malformed %XX escape in key' };
  if (key.length === 0) return { kind: 'invalid', reason: 'empty key' };
  return { kind: 'lookup', key };
}

/**
 * Encodes an outcome as one reply line, LF included.
 * A `found` value that would exceed the 4096-byte reply limit becomes a 400
 * (config validation rejects such values long before this point).
 */
export function encodeTcpTableReply(outcome: Outcome): string {
  let line: string;
  switch (outcome.kind) {
    case 'found':
      line = `200 ${percentEncode(outcome.value)}\n`;
      if (Buffer.byteLength(line) > TCP_TABLE_MAX_REPLY_BYTES) line = '400 error:reply_too_long\n';
      return line;
    case 'notFound':
      return `500 ${percentEncode(outcome.reason)}\n`;
    case 'tempFail':
    case 'permFail':
      // tcp_table has no permanent error code: 400 makes Postfix defer, which loses nothing.
      return `400 ${percentEncode(outcome.reason)}\n`;
    default: {
      const unreachable: never = outcome;
      return unreachable;
    }
  }
}

/** How many bytes a found value takes in a reply, LF included. */
export function tcpTableReplyBytes(value: string): number {
  return Buffer.byteLength(`200 ${percentEncode(value)}\n`);
}
