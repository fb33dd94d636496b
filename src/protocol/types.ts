/**
 * What a decoded request is, and what the policy answers, in domain terms.
 * Codecs translate between these and the wire.
 */

/** A lookup of one key. */
export interface LookupRequest {
  readonly kind: 'lookup';
  /**
   * The %XX-decoded key as a byte string (latin1: one char per byte). Postfix
   * keys are bytes (UTF-8 addresses arrive as %C3%BC); nothing here needs
   * them as text, and bytes hash and compare the same in every process.
   */
  readonly key: string;
}

/** A line we could not make sense of; answered with a temporary error. */
export interface InvalidRequest {
  readonly kind: 'invalid';
  /** Why, for the log: e.g. `unknown verb "put"`. */
  readonly reason: string;
  /** Retrying cannot help (socketmap answers PERM); otherwise a temporary error. */
  readonly permanent?: boolean;
}

export type Request = LookupRequest | InvalidRequest;

/** The answer of the policy for one request. */
export type Outcome =
  | { readonly kind: 'found'; readonly value: string }
  | { readonly kind: 'notFound'; readonly reason: string }
  /** Try again later: Postfix defers, nothing is lost. */
  | { readonly kind: 'tempFail'; readonly reason: string }
  | { readonly kind: 'permFail'; readonly reason: string };

/** Stands for a line that exceeded the line limit and was dropped (the value is line-framer.ts's TOO_LONG). */
export interface TooLong {
  readonly tooLong: true;
}

/** One frame cut from the input stream: a line as a byte string, or TOO_LONG. */
export type Frame = string | TooLong;
