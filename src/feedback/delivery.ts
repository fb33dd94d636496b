import type { Delivery, DeliveryStatus } from './types.js';

/**
 * smtp(8)'s delivery line, as Postfix 3.x writes it:
 * `580B120C6C2: to=<u@example.com>, relay=mx.example.com[192.0.2.1]:25,
 * delay=0.25, delays=0.18/0.06/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)`,
 * optionally with `orig_to=<…>` and `conn_use=N`. Pure.
 */
const DELIVERY = /^([0-9A-Za-z]{5,20}): to=<([^>]{0,1000})>, (?:orig_to=<[^>]{0,1000}>, )?relay=([^,\s]{1,300}), (?:conn_use=\d+, )?delay=[\d.]+, delays=[\d./]+, dsn=(\d\.\d{1,3}\.\d{1,3}), status=(sent|deferred|bounced|expired)(?: \((.*)\))?$/;

/** The host of a `relay=` value: `mx.example.com[192.0.2.1]:25` → `mx.example.com`. */
function relayHostOf(relay: string): string {
  const bracket = relay.indexOf('[');
  return (bracket >= 0 ? relay.slice(0, bracket) : relay).toLowerCase();
}

/** @returns the delivery, or undefined when the message is not a delivery line */
export function parseDelivery(message: string): Delivery | undefined {
  const m = DELIVERY.exec(message);
  if (!m) return undefined;
  const recipient = m[2]!;
  const at = recipient.lastIndexOf('@');
  return {
    queueId: m[1]!,
    recipient,
    domain: (at >= 0 ? recipient.slice(at + 1) : '').toLowerCase().replace(/\.$/, ''),
    relayHost: relayHostOf(m[3]!),
    dsn: m[4]!,
    status: m[5] as DeliveryStatus,
    reason: m[6] ?? '',
  };
}

/**
 * The syslog tag of each service's deliveries → the service: `postfix-SERVICE/smtp`
 * unless an entry names its syslog_name. Pure.
 */
export function tagsOfPool(transports: readonly { value: string; syslogName?: string }[]): Map<string, string> {
  const tags = new Map<string, string>();
  for (const t of transports) {
    const service = t.value.slice(0, t.value.indexOf(':'));
    tags.set(`${t.syslogName ?? `postfix-${service}`}/smtp`, service);
  }
  return tags;
}
