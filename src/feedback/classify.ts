import type { Delivery, Verdict } from './types.js';
import type { FeedbackRule } from '../config/types.js';

/**
 * What a delivery says about its transport. Built-in rules, checked in this
 * order; the first that matches decides. Sources: Postfix's smtp(8) reason
 * texts (observed: test/fixtures/postfix-maillog.txt), and the reply patterns
 * bulk senders' MTAs act on (PowerMTA smtp-pattern-list, KumoMTA traffic
 * shaping, ZoneMTA's blacklist class; ../shared/postbal-reference.md).
 */

/**
 * The source side is broken: this transport's own address or route. Counts
 * against the transport whatever the destination. Every pattern is anchored
 * at both ends: a reason is partly outsiders' text.
 */
const SOURCE: readonly RegExp[] = [
  /^connect to [^\s:]+(?:\[[^\]\s]{1,64}\])?:\d{1,5}: (?:Cannot assign requested address|Network is unreachable)$/,
  /^(?:Cannot assign requested address|Network is unreachable)$/,
  /^(?:connect to [^\s:]+(?:\[[^\]\s]{1,64}\])?:\d{1,5}: )?bind [^\s]{1,64}: [A-Za-z ]{1,60}$/,
];

/**
 * The next hop could not be reached or kept. About the transport only when
 * its next hop is fixed (the engine decides); else it is that destination's
 * trouble, as in Postfix's own dead-host cache.
 */
const CONNECTION: readonly RegExp[] = [
  /^connect to [^\s:]+(?:\[[^\]\s]{1,64}\])?:\d{1,5}: (?:Connection refused|Connection timed out|No route to host|Connection reset by peer)$/,
  /^lost connection with [^\s]+ while (?:receiving the initial server greeting|performing the EHLO handshake)$/,
  /^conversation with [^\s]+ timed out while receiving the initial server greeting$/,
];

/**
 * About one mailbox, not about this source: greylisting (often sent as
 * 450 4.7.1, so checked before the throttling rules), full or unknown
 * mailboxes.
 */
const MAILBOX: readonly RegExp[] = [
  /greylist|grey-list|graylist|try again in \d+ (?:seconds|minutes)/i,
  /mailbox (?:is )?(?:full|unavailable|busy)|over ?quota|quota exceeded|insufficient (?:system )?storage/i,
  /user unknown|no such user|unknown user|recipient (?:address )?rejected: (?:user|mailbox)|does not exist/i,
  /\b[45]\.[12]\.\d{1,3}\b/,
];

/** The destination throttles or blocks this source. */
const THROTTLED: readonly RegExp[] = [
  /\bsaid: 421\b/,
  /\b[45]\.7\.\d{1,3}\b/,
  /rate.?limit|too many (?:connections|messages|recipients|concurrent)|throttl|temporarily (?:deferred|rate limited)|try again later|unusual (?:rate|amount)/i,
  /\[TS0\d\]/,
  /\bS3150\b|\bS3140\b|block ?list|blacklist|\blisted (?:at|on|by|in)\b|spamhaus|spamcop|barracuda|\bRBL\b|\bDNSBL\b|poor reputation|reputation/i,
];

/**
 * The verdict on one delivery. Pure.
 * @param rules postbal.cf's feedback_rule lines, checked first, in order
 */
export function classifyDelivery(d: Delivery, rules: readonly FeedbackRule[] = []): Verdict {
  if (d.status === 'sent') return 'ok';
  // qmgr's word for mail it holds back after a failure of the same next hop
  // (a dead destination): it repeats that failure, and it comes at once, while
  // the next real attempt waits for the retry. It counts as that failure.
  const reason = d.reason.replace(/^delivery temporarily suspended: /, '');
  for (const rule of rules) if (rule.regex.test(reason)) return rule.verdict;
  if (SOURCE.some((r) => r.test(reason))) return 'source';
  if (CONNECTION.some((r) => r.test(reason))) return 'connection';
  // Only a remote reply can say the remote throttles us; our own reasons never do.
  const remote = /^host [^\s]{1,300} said: /.test(reason);
  if (!remote) return 'local';
  if (MAILBOX.some((r) => r.test(reason))) return 'mailbox';
  if (THROTTLED.some((r) => r.test(reason))) return 'throttled';
  return 'other';
}

/**
 * Where a verdict about a destination applies: the provider behind the relay
 * when the relay is a host name (`mx1.mail.yahoo.com` → `yahoo.com`), so
 * domains hosted by one provider share it; else the recipient's domain.
 */
export function destinationOf(d: Delivery): string {
  const host = d.relayHost;
  if (host === 'none' || host === '' || /^[\d.]+$/.test(host) || host.includes(':')) return d.domain;
  const labels = host.split('.').filter(Boolean);
  if (labels.length < 2) return d.domain;
  // example.co.uk, example.com.au: keep three labels under a two-letter country code.
  const n = labels.length >= 3 && labels.at(-1)!.length === 2 && labels.at(-2)!.length <= 3 ? 3 : 2;
  return labels.slice(-n).join('.');
}
