/** The parsed, validated configuration (types only). */

/** One pool member: the reply Postfix gets, and its share. */
export interface TransportEntry {
  /** `transport:nexthop`, exactly as the reply carries it, e.g. `smtp1:[relay.example]:25`. */
  readonly value: string;
  /** Relative share, a positive integer. */
  readonly weight: number;
  /** Line of the config file it came from (for messages). */
  readonly line: number;
}

export interface PoolConfig {
  /** The config file it was read from. */
  readonly file: string;
  readonly transports: readonly TransportEntry[];
  /**
   * Identifies the pool (values and weights, in order) so that a state file
   * written for another pool is recognised and not misread.
   */
  readonly fingerprint: number;
}

/** A non-fatal remark found while parsing, e.g. a merged duplicate. */
export interface ConfigWarning {
  readonly line: number;
  readonly message: string;
}
