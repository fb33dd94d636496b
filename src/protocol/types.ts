/**
 * What a decoded request is, and what the policy answers, in domain terms.
 * Codecs translate between these and the wire.
 */

/** A lookup of one key (already %XX-decoded). */
export interface LookupRequest {
  readonly kind: 'lookup';
  readonly key: string;
}

/** A line we could not make sense of; answered with a temporary error. */
export interface InvalidRequest {
  readonly kind: 'invalid';
  /** Why, for the log: e.g. `unknown verb "put"`. */
  readonly reason: string;
}

export type Request = LookupRequest | InvalidRequest;

/** The answer of the policy for one request. */
export type Outcome =
  | { readonly kind: 'found'; readonly value: string }
  | { readonly kind: 'notFound'; readonly reason: string }
  /** Try again later: Postfix defers, nothing is lost. */
  | { readonly kind: 'tempFail'; readonly reason: string }
  | { readonly kind: 'permFail'; readonly reason: string };

/** One frame cut from the input stream by a framer. */
export type Frame =
  | { readonly kind: 'line'; readonly bytes: Buffer }
  | { readonly kind: 'tooLong' };
