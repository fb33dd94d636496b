import { LineFramer } from './line-framer.js';
import { MAX_REQUEST_LINE_BYTES, POLICY_MAX_REQUEST_BYTES, SOCKETMAP_MAX_NETSTRING_BYTES } from './limits.js';
import { NetstringFramer } from './netstring.js';
import { PolicyFramer } from './policy.js';
import { decodeSocketmapRequest, encodeSocketmapReply } from './socketmap.js';
import { decodeTcpTableRequest, encodeTcpTableReply } from './tcp-table.js';
import type { Frame, Outcome, Request } from './types.js';

/**
 * Each stdin protocol behind one shape, for the one serving loop
 * (io/serve.ts): how bytes become frames, frames requests, and answers
 * bytes. Pure: no I/O, no clock.
 */

/** What a chunk (or the end of input) completed; `fatal` when the stream cannot be framed further. */
export interface Framed<F> {
  readonly frames: F[];
  readonly fatal?: string;
}

export interface Wire<F, Req, Out> {
  feed(chunk: Buffer): Framed<F>;
  end(): Framed<F>;
  /** Decoded a slice at a time, so a 64 KiB burst never holds thousands of requests at once. */
  decode(frame: F): Req;
  encode(answer: Out): string | Buffer;
  /** The answer when handling failed (a bug) or missed its deadline: the peer waits for one whatever happened. */
  readonly failure: Out;
  /** The answer to the frames before a framing error, after which nothing can be read. */
  fatalReply(reason: string): string | Buffer;
  /** Requests handled together at most: one lock and one write for a pipelined burst of lookups. */
  readonly slice: number;
}

/** Lookups decided together at most; a 64 KiB read holds ~2,500 of them. */
const LOOKUP_SLICE = 256;

/** A lookup whose handling threw: try again later (Postfix retries; nothing is lost). */
export const INTERNAL_ERROR: Outcome = { kind: 'tempFail', reason: 'error:internal' };

export type LookupWire = Wire<Frame, Request, Outcome>;

export function tcpTableWire(): LookupWire {
  const framer = new LineFramer(MAX_REQUEST_LINE_BYTES);
  return {
    feed: (chunk) => ({ frames: framer.feed(chunk) }),
    end: () => ({ frames: framer.end() }),
    decode: decodeTcpTableRequest,
    encode: encodeTcpTableReply,
    failure: INTERNAL_ERROR,
    fatalReply: (reason) => encodeTcpTableReply({ kind: 'permFail', reason }),
    slice: LOOKUP_SLICE,
  };
}

export function socketmapWire(): LookupWire {
  const framer = new NetstringFramer(SOCKETMAP_MAX_NETSTRING_BYTES);
  return {
    feed(chunk) {
      const r = framer.feed(chunk);
      return r.error === undefined ? { frames: r.frames } : { frames: r.frames, fatal: r.error };
    },
    end() {
      const error = framer.end();
      return error === undefined ? { frames: [] } : { frames: [], fatal: error };
    },
    // The netstring framer yields strings only; TOO_LONG is a line framer's.
    decode: (frame) => decodeSocketmapRequest(typeof frame === 'string' ? frame : ''),
    encode: encodeSocketmapReply,
    failure: INTERNAL_ERROR,
    fatalReply: (reason) => encodeSocketmapReply({ kind: 'permFail', reason }),
    slice: LOOKUP_SLICE,
  };
}

/**
 * The lookup protocol a connection speaks, told by its first byte: a digit
 * starts a socketmap netstring, anything else a tcp_table line (whose verb is
 * a letter).
 */
export function lookupWireFor(firstChunk: Buffer): LookupWire {
  const b = firstChunk[0];
  return b !== undefined && b >= 0x30 && b <= 0x39 ? socketmapWire() : tcpTableWire();
}

/** A policy request: its bytes exactly as they came, or undefined for one over the limit (answered, never forwarded). */
export type PolicyRequest = Buffer | undefined;

export interface PolicyWire extends Wire<PolicyRequest, PolicyRequest, Buffer> {
  /** Bytes of a request cut off by the end of input (Postfix never leaves one). */
  readonly unfinishedBytes: number;
}

/**
 * Postfix policy delegation: one request at a time, since each may go to a
 * backend and back; `failure` is the default action's reply.
 */
export function policyWire(failure: Buffer): PolicyWire {
  const framer = new PolicyFramer(POLICY_MAX_REQUEST_BYTES);
  return {
    feed: (chunk) => ({ frames: framer.feed(chunk).map((f) => (f.kind === 'request' ? f.raw : undefined)) }),
    end: () => ({ frames: [] }),
    decode: (frame) => frame,
    encode: (reply) => reply,
    failure,
    // The policy framer never stops: an oversized request is skipped to its end.
    fatalReply: () => failure,
    slice: 1,
    get unfinishedBytes() {
      return framer.pendingBytes;
    },
  };
}
