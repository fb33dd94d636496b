import type { Readable, Writable } from 'node:stream';
import { LineFramer } from '../protocol/line-framer.js';
import { MAX_REQUEST_LINE_BYTES } from '../protocol/limits.js';
import { decodeTcpTableRequest, encodeTcpTableReply } from '../protocol/tcp-table.js';
import type { Frame, Outcome, Request } from '../protocol/types.js';

/**
 * The only code that touches the protocol stream. Every chunk read is cut
 * into lines, all complete lines in it are answered at once (one lock and one
 * write for a pipelined burst, no waiting for more input), and the replies
 * are written in request order. When the peer stops reading, input pauses
 * until the output drains, so memory stays bounded.
 */

/** Requests decided together at most; a 64 KiB read holds ~2,500 lookups. */
const SLICE = 256;

export interface ServeHooks {
  handle(requests: readonly Request[]): Outcome[];
  /** Runs after each burst's replies were handed to the output. */
  afterReply?(): void;
  /** Runs once, right after the first replies were handed to the output. */
  afterFirstReply?(): void;
}

/** Resolves when input ended and every reply was written (or the peer left). */
export function serveTcpTable(input: Readable, output: Writable, hooks: ServeHooks): Promise<'eof' | 'peer-gone'> {
  const framer = new LineFramer(MAX_REQUEST_LINE_BYTES);
  return new Promise((resolve) => {
    let finished = false;
    let firstReply = true;
    const finish = (how: 'eof' | 'peer-gone'): void => {
      if (finished) return;
      finished = true;
      input.removeAllListeners('data');
      resolve(how);
    };
    const answer = (frames: Frame[]): boolean => {
      if (frames.length === 0) return true;
      // Slices keep what is alive at once small (and with it the heap, see
      // README: Memory); each slice is one lock hold and one write.
      let flowing = true;
      for (let i = 0; i < frames.length; i += SLICE) {
        const outcomes = hooks.handle(frames.slice(i, i + SLICE).map(decodeTcpTableRequest));
        let text = '';
        for (const o of outcomes) text += encodeTcpTableReply(o);
        flowing = output.write(text) && flowing;
        hooks.afterReply?.();
        if (firstReply) {
          firstReply = false;
          hooks.afterFirstReply?.();
        }
      }
      return flowing;
    };
    output.on('error', () => finish('peer-gone'));
    input.on('error', () => {
      answer(framer.end());
      output.write('', () => finish('eof'));
    });
    input.on('data', (chunk: Buffer) => {
      if (!answer(framer.feed(chunk))) {
        input.pause();
        output.once('drain', () => input.resume());
      }
    });
    input.on('end', () => {
      answer(framer.end());
      // The callback runs once everything queued before it is flushed.
      output.write('', () => finish('eof'));
    });
  });
}
