/** Every default in one place. */
export const DEFAULTS = {
  /** postbal.pl's fixed location. */
  config: '/etc/postfix/postbal.cf',
  /** Not /tmp (postbal.pl's /tmp/postbal.dat): any local user can plant files there. */
  state: '/var/lib/postbal/postbal.state',
  /** postbal policy's shared breakers and round robin (a file of its own: its layout is not the balancer's). */
  policyState: '/var/lib/postbal/policy.state',
  /** `local` is /dev/log through logger(1). */
  syslog: 'local',
  /** Postfix's own daemons log as postfix/NAME. */
  syslogTag: 'postfix/postbal',
  /**
   * How long a key's answer is remembered for its second lookup (seconds).
   * Postfix asks again when qmgr picks the message up, normally within
   * seconds, later under a backlog.
   */
  repeatWindowSec: 600,
  /** Repeat memo slots: room for the recipients of a large burst between smtpd's and qmgr's lookups. */
  memoSlots: 16_384,
  /**
   * Longest wait for a state lock (ms); past it the lookup is answered from
   * memory, because Postfix waits for the answer and slowness is an outage.
   */
  lockTimeoutMs: 1000,
  /**
   * A lock held this long by a live postbal is taken to be stuck (stopped,
   * hung) and broken (ms). Long, because a holder only slow on a loaded
   * machine must never be overruled (two writers lose a change, a drain
   * among them); lookups meanwhile wait at most lockTimeoutMs. A holder that
   * died, or whose PID now names another process, is overruled at once.
   */
  lockStaleMs: 10_000,
  /**
   * postbal feedback (the `feedback_*` directives of postbal.cf). Reacting fast
   * matters more than being clever: a stand-in that stopped answering a
   * transport after its third deferral cut 1,539 deferrals to 13.
   */
  feedback: {
    /** Consecutive connection failures that take a transport down. */
    downAfter: 3,
    /** A transport down takes no traffic this long, then a trial share (ms). */
    holdMs: 30_000,
    /** Each failed trial doubles the hold, up to this (ms). */
    maxHoldMs: 300_000,
    /** A transport back up ramps from 10% to full weight over this (ms; haproxy's slowstart). */
    rampMs: 60_000,
    /** Throttling replies for one (transport, destination) within the window that suspend it. */
    suspendAfter: 3,
    /** (ms) */
    suspendWindowMs: 600_000,
    /** How long a suspension lasts (ms; PowerMTA's backoff-retry-after is 1 h). */
    suspendTtlMs: 3_600_000,
    /** A transport down with a fixed next hop is probed this often (ms; haproxy's inter 2s)... */
    probeIntervalMs: 2000,
    /** ...and back up after this many probes answered with 220 in a row (haproxy's rise 2). */
    probeRise: 2,
  },
  /** postbal policy (hapolicy's command line, and its config file). */
  policy: {
    /** The action when no service answers: hapolicy's -d default. */
    defaultAction: 'dunno',
    /** How long every instance skips a service that failed (ms). */
    breakerMs: 10_000,
    /** How long a service may take to reply (s): hapolicy's per-service default. */
    timeoutSec: 30,
  },
} as const;
