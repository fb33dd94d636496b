import type { Readable, Writable } from 'node:stream';
import { POLICY_MAX_REQUEST_BYTES } from '../protocol/limits.js';
import { PolicyFramer } from '../protocol/policy.js';

/**
 * The policy delegation protocol's stdin/stdout loop (smtpd's connection
 * under spawn). Replies leave in request order, exactly one per request
 * (a request over POLICY_MAX_REQUEST_BYTES is answered too, with the
 * default). Input is read only while fewer than MAX_WAITING_REQUESTS wait
 * for their replies and the peer has taken what was written (at most
 * MAX_UNSENT_BYTES unsent): a client that pipelines without reading cannot
 * grow the process (400,000 pipelined requests took 287 MB before).
 */

/** Requests read ahead of their replies at most; past this, input waits. */
const MAX_WAITING_REQUESTS = 64;
/** Replies not yet taken by the peer at most; past this, input waits. */
const MAX_UNSENT_BYTES = 64 * 1024;

export interface PolicyHooks {
  /**
   * The reply to one request (the raw block), or to an oversized one
   * (undefined). Must not reject: a rejection is answered `fallback()`.
   */
  answer(raw: Buffer | undefined): Promise<Buffer>;
  /** The reply when `answer` rejected (a bug): smtpd waits for one whatever happened. */
  fallback(err: unknown): Buffer;
  /** After a reply was handed to the output. */
  replied?(raw: Buffer | undefined, reply: Buffer): void;
}

export interface PolicyServeResult {
  /** Requests over the limit, answered without being forwarded. */
  readonly oversized: number;
  /** Bytes of a request cut off by the end of input. */
  readonly unfinishedBytes: number;
}

/** Serves until the input ends or either side fails. */
export async function servePolicyConnection(input: Readable, output: Writable, hooks: PolicyHooks): Promise<PolicyServeResult> {
  const framer = new PolicyFramer(POLICY_MAX_REQUEST_BYTES);
  let chain: Promise<void> = Promise.resolve();
  let oversized = 0;
  let waiting = 0;
  let paused = false;
  const backedUp = (): boolean => waiting >= MAX_WAITING_REQUESTS || output.writableLength > MAX_UNSENT_BYTES;
  const resumeWhenClear = (): void => {
    if (!paused || backedUp()) return;
    paused = false;
    input.resume();
  };
  output.on('drain', resumeWhenClear);
  const reply = async (raw: Buffer | undefined): Promise<void> => {
    let out: Buffer;
    try {
      out = await hooks.answer(raw);
    } catch (err) {
      out = hooks.fallback(err);
    }
    output.write(out);
    hooks.replied?.(raw, out);
  };
  await new Promise<void>((resolve) => {
    input.on('data', (chunk: Buffer) => {
      for (const f of framer.feed(chunk)) {
        if (f.kind === 'tooLong') oversized++;
        waiting++;
        // Each reply waits for the one before: request order.
        chain = chain.then(() => reply(f.kind === 'request' ? f.raw : undefined)).finally(() => {
          waiting--;
          resumeWhenClear();
        });
      }
      if (!paused && backedUp()) {
        paused = true;
        input.pause();
      }
    });
    input.on('end', resolve);
    input.on('error', () => resolve());
    output.on('error', () => resolve());
  });
  await chain;
  return { oversized, unfinishedBytes: framer.pendingBytes };
}
