/** The parsed, validated configuration (types only). */

/** One pool member: the reply Postfix gets, its share and its tier. */
export interface TransportEntry {
  /** `transport:nexthop`, exactly as the reply carries it, e.g. `smtp1:[relay.example]:25`. */
  readonly value: string;
  /** Relative share within its tier, a positive integer. */
  readonly weight: number;
  /** Tier: lower is preferred; picks come from the best tier with an available member. */
  readonly priority: number;
  /** `warmup=CAP,CAP,…`: the day caps of warm-up stage 1, 2, … (balance/warmup.ts); none: never capped. */
  readonly warmup?: readonly number[];
  /** `rate=N/PERIOD`: at most `count` new answers per `periodMs` (GCRA; balance/rate.ts), fleet-wide on a fleet host. */
  readonly rate?: RateLimit;
  /** Line of the config file it came from (for messages). */
  readonly line: number;
  /** `source=ADDRESS`: the local address its probes connect from (its smtp_bind_address). */
  readonly source?: string;
  /** `syslog_name=NAME`: its master.cf syslog_name, when not `postfix-SERVICE`; feedback finds its log lines by it. */
  readonly syslogName?: string;
}

/** A `rate=N/PERIOD` attribute: `count` answers per `periodMs`, as written (`text`). */
export interface RateLimit {
  readonly count: number;
  readonly periodMs: number;
  readonly text: string;
}

/** The `fleet*` directives (config/fleet-directives.ts): hosts sharing drains, trouble, caps and rates through Redis. */
export interface FleetConfig {
  /** `fleet = redis://…` or `rediss://…`, without a password (written in the file it would leak into logs). */
  readonly url: string;
  /** `fleet_name`: prefixes every key, so fleets can share one Redis. */
  readonly name: string;
  /** `fleet_host`: this host's name in the fleet (default: the host name). */
  readonly host: string | undefined;
  /** `fleet_password_file`: a root-only file holding `PASSWORD` or `USER PASSWORD` (a Redis ACL user). */
  readonly passwordFile: string | undefined;
  /** `fleet_sentinel = MASTER HOST:PORT …`: the primary is found through these Sentinels (then `fleet`'s host is not used). */
  readonly sentinel: { readonly master: string; readonly nodes: readonly { readonly host: string; readonly port: number }[] } | undefined;
  /** `fleet_tls_ca`: the CA file for `rediss://` (default: the system's). */
  readonly tlsCa: string | undefined;
  readonly line: number;
}

/** How a member of the active tier is chosen. */
export type Algorithm = 'wrr' | 'random' | 'sticky';

/** One `match` pattern, compiled (config/scope.ts). */
export type ScopeRule =
  | { readonly kind: 'all' }
  /**
   * The null sender: Postfix asks `"<>"` (quoted) and, when that is not
   * found, `<>` (empty_address_default_transport_maps_lookup_key).
   */
  | { readonly kind: 'nullSender' }
  /** The key itself, e.g. `"<>"` or a full address. */
  | { readonly kind: 'key'; readonly key: string }
  /** The domain of an address key, exactly. */
  | { readonly kind: 'domain'; readonly domain: string }
  /** Any subdomain of `suffix` (written `.example.com`; `suffix` keeps the dot). */
  | { readonly kind: 'subdomain'; readonly suffix: string }
  /** The local part in any domain (written `user@`). */
  | { readonly kind: 'localpart'; readonly local: string }
  | { readonly kind: 'regex'; readonly regex: RegExp };

export interface ScopeConfig {
  /** Keys answered; empty means every key (postbal.pl's behaviour). */
  readonly include: readonly ScopeRule[];
  /** Keys never answered, whatever `include` says. */
  readonly exclude: readonly ScopeRule[];
}

/** A regex rule of postbal.cf that decides what a delivery's reason says (before the built-in rules). */
export interface FeedbackRule {
  readonly regex: RegExp;
  /** connection: the transport cannot reach its next hop; throttled: the destination throttles or blocks it; mailbox: nothing to learn. */
  readonly verdict: 'connection' | 'throttled' | 'mailbox';
  readonly line: number;
}

/** What postbal feedback decides on, from the `feedback_*` directives (defaults: DEFAULTS.feedback). */
export interface FeedbackConfig {
  /** Consecutive connection failures that take a transport down. */
  readonly downAfter: number;
  /** How long a transport down takes no traffic before a trial share. */
  readonly holdMs: number;
  /** Each failed trial doubles the hold, up to this. */
  readonly maxHoldMs: number;
  /** How long a transport back up takes to reach its full weight. */
  readonly rampMs: number;
  /** Throttling replies within the window that suspend a (transport, destination). */
  readonly suspendAfter: number;
  readonly suspendWindowMs: number;
  /** How long a suspension lasts. */
  readonly suspendTtlMs: number;
  /** How often a transport down with a fixed next hop is probed (TCP connect and a 220 greeting). */
  readonly probeIntervalMs: number;
  /** Probes answered in a row that bring it back up. */
  readonly probeRise: number;
  readonly rules: readonly FeedbackRule[];
}

export interface PoolConfig {
  /** The config file it was read from. */
  readonly file: string;
  readonly transports: readonly TransportEntry[];
  readonly algorithm: Algorithm;
  /** Answered when no transport is available (all drained); undefined: not found. */
  readonly fallback: string | undefined;
  readonly scope: ScopeConfig;
  /** For postbal feedback: thresholds, durations, extra rules. */
  readonly feedback: FeedbackConfig;
  /** The `fleet` directive and its companions; undefined: this host balances alone. */
  readonly fleet?: FleetConfig;
  /** `warmup_provider` lines: groups of domains whose mail a warming transport counts apart (balance/eligibility/warmup.ts). */
  readonly warmupProviders: readonly (readonly string[])[];
  /**
   * hashKey() of each transport's value: its identity in the state file
   * (drain marks follow a transport across config changes) and its seed in
   * sticky hashing.
   */
  readonly memberHashes: readonly number[];
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
