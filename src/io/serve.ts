import type { Readable, Writable } from 'node:stream';
import { LineFramer } from '../protocol/line-framer.js';
import { MAX_REQUEST_LINE_BYTES, SOCKETMAP_MAX_NETSTRING_BYTES } from '../protocol/limits.js';
import { NetstringFramer } from '../protocol/netstring.js';
import { decodeSocketmapRequest, encodeSocketmapReply } from '../protocol/socketmap.js';
import { decodeTcpTableRequest, encodeTcpTableReply } from '../protocol/tcp-table.js';
import type { Frame, Outcome, Request } from '../protocol/types.js';

/**
 * The only code that touches the protocol stream. The first byte tells the
 * protocol: a digit starts a socketmap netstring, anything else a tcp_table
 * line (whose verb is a letter). Every chunk read is cut into requests, all
 * complete requests in it are answered at once (one lock and one write for a
 * pipelined burst, no waiting for more input), and the replies are written
 * in request order. When the peer stops reading, input pauses until the
 * output drains, so memory stays bounded.
 */

/** Requests decided together at most; a 64 KiB read holds ~2,500 lookups. */
const SLICE = 256;

/** The answer to requests whose handling threw: try again later. */
const INTERNAL_ERROR: Outcome = { kind: 'tempFail', reason: 'error:internal' };

export type Protocol = 'tcp_table' | 'socketmap';

export interface ServeHooks {
  handle(requests: readonly Request[]): Outcome[];
  /** Runs after each burst's replies were handed to the output. */
  readonly afterReply?: () => void;
  /** Runs once, right after the first replies were handed to the output. */
  readonly afterFirstReply?: () => void;
  /**
   * A hook threw: a bug, never expected. The requests of that slice were
   * answered as temporary failures (Postfix retries; nothing is lost).
   */
  internalError(err: unknown): void;
  /** The stream cannot be framed any further; the connection is being closed. */
  framingError?(reason: string): void;
}

/** What a chunk (or the end of input) completed; `fatal` when the stream cannot be framed further. */
interface Framed {
  readonly frames: Frame[];
  readonly fatal?: string;
}

/** A protocol's framing and codec, behind one shape. */
interface Wire {
  feed(chunk: Buffer): Framed;
  end(): Framed;
  /** Decoded a slice at a time, so a 64 KiB burst never holds thousands of requests at once. */
  readonly decode: (frame: Frame) => Request;
  readonly encode: (outcome: Outcome) => string;
}

function tcpTableWire(): Wire {
  const framer = new LineFramer(MAX_REQUEST_LINE_BYTES);
  return {
    feed: (chunk) => ({ frames: framer.feed(chunk) }),
    end: () => ({ frames: framer.end() }),
    decode: decodeTcpTableRequest,
    encode: encodeTcpTableReply,
  };
}

function socketmapWire(): Wire {
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
  };
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

/** Resolves when input ended and every reply was written (or the peer left). */
export function serveConnection(input: Readable, output: Writable, hooks: ServeHooks): Promise<'eof' | 'peer-gone' | 'framing-error'> {
  let wire: Wire | undefined;
  return new Promise((resolve) => {
    let finished = false;
    let firstReply = true;
    const finish = (how: 'eof' | 'peer-gone' | 'framing-error'): void => {
      if (finished) return;
      finished = true;
      input.removeAllListeners('data');
      resolve(how);
    };
    /** Exactly one reply per request, whatever a hook does. */
    const replyTo = (slice: Frame[]): string => {
      let text = '';
      try {
        const outcomes = hooks.handle(slice.map(wire!.decode));
        if (outcomes.length !== slice.length) throw new Error(`handler answered ${outcomes.length} of ${slice.length} requests`);
        for (const o of outcomes) text += wire!.encode(o);
        return text;
      } catch (err) {
        guard(() => hooks.internalError(err));
        const reply = wire!.encode(INTERNAL_ERROR);
        return reply.repeat(slice.length);
      }
    };
    const guard = (fn: (() => void) | undefined): void => {
      if (!fn) return;
      try {
        fn();
      } catch (err) {
        try {
          hooks.internalError(err);
        } catch {
          // The last resort has failed too; the replies still go out.
        }
      }
    };
    const answer = (frames: Frame[]): boolean => {
      if (frames.length === 0) return true;
      // Slices keep what is alive at once small (and with it the heap, see
      // README: Memory); each slice is one lock hold and one write.
      let flowing = true;
      for (let i = 0; i < frames.length; i += SLICE) {
        const slice = frames.slice(i, i + SLICE);
        flowing = output.write(replyTo(slice)) && flowing;
        guard(hooks.afterReply);
        if (firstReply) {
          firstReply = false;
          guard(hooks.afterFirstReply);
        }
      }
      return flowing;
    };
    /** Answers what was framed; on a framing error answers it with PERM and closes. */
    const settle = (r: Framed, atEnd: boolean): boolean => {
      const flowing = answer(r.frames);
      if (r.fatal === undefined) {
        if (atEnd) output.write('', () => finish('eof'));
        return flowing;
      }
      const fatal = r.fatal;
      guard(() => hooks.framingError?.(fatal));
      input.removeAllListeners('data');
      input.pause();
      output.write(wire!.encode({ kind: 'permFail', reason: fatal }), () => {
        // Nothing after the error can be read, and a paused stdin would keep the process alive.
        input.destroy();
        finish('framing-error');
      });
      return true;
    };
    const choose = (chunk: Buffer): Wire => {
      if (!wire) {
        const protocol: Protocol = isDigit(chunk[0]) ? 'socketmap' : 'tcp_table';
        wire = protocol === 'socketmap' ? socketmapWire() : tcpTableWire();
      }
      return wire;
    };
    output.on('error', () => finish('peer-gone'));
    const atEnd = (): void => {
      if (finished) return;
      if (!wire) {
        output.write('', () => finish('eof'));
        return;
      }
      settle(wire.end(), true);
    };
    input.on('error', atEnd);
    input.on('end', atEnd);
    input.on('data', (chunk: Buffer) => {
      if (chunk.length === 0) return;
      if (!settle(choose(chunk).feed(chunk), false)) {
        input.pause();
        output.once('drain', () => input.resume());
      }
    });
  });
}
