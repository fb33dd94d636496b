/** What feedback reads from Postfix's log (types only). */

/** One log line, whatever form it came in. */
export interface LogRecord {
  /** The syslog tag without the PID, e.g. `postfix-smtp2/smtp`. */
  readonly tag: string;
  readonly pid: number | undefined;
  /**
   * The sender's uid as the kernel told the log daemon (journald `_UID`,
   * rsyslog `$!uid`); undefined for plain lines, which anyone can forge.
   */
  readonly uid: number | undefined;
  readonly message: string;
}

export type DeliveryStatus = 'sent' | 'deferred' | 'bounced' | 'expired';

/** One delivery attempt of smtp(8): `QID: to=<…>, relay=…, dsn=…, status=… (…)`. */
export interface Delivery {
  readonly queueId: string;
  readonly recipient: string;
  /** The recipient's domain, lower-cased. */
  readonly domain: string;
  /** `relay=` without address and port, lower-cased: a host name, an IP, or `none`. */
  readonly relayHost: string;
  readonly dsn: string;
  readonly status: DeliveryStatus;
  /** The text in parentheses: the remote reply or the local reason. */
  readonly reason: string;
}

/**
 * What one delivery says about the transport that made it:
 * - `ok`: it delivered (connection and reply fine);
 * - `source`: the transport's own side failed (its source address gone, no
 *   route out, a bind error): the transport is in trouble, whatever the
 *   destination;
 * - `connection`: it could not reach or keep the next hop (refused, timed out,
 *   lost before the greeting): the transport's trouble only when its next hop
 *   is fixed, else the destination's;
 * - `throttled`: the destination throttles or blocks this source;
 * - `mailbox`: about one recipient (full, unknown, greylisted): nothing to learn;
 * - `other`: any other reply of the remote (the connection worked);
 * - `local`: a reason of Postfix's own that says nothing about the next hop
 *   (DNS, a local problem).
 */
export type Verdict = 'ok' | 'source' | 'connection' | 'throttled' | 'mailbox' | 'other' | 'local';
