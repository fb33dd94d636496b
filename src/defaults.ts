/** Every default in one place. */
export const DEFAULTS = {
  /** postbal.pl's fixed location. */
  config: '/etc/postfix/postbal.cf',
  /** Not /tmp (postbal.pl's /tmp/postbal.dat): any local user can plant files there. */
  state: '/var/lib/postbal/postbal.state',
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
  /** A lock held this long by a live process is taken to be stuck and broken (ms). */
  lockStaleMs: 500,
} as const;
