import type { Delivery, DeliveryStatus } from './types.js';
import { serviceOf } from '../config/service-name.js';

/**
 * smtp(8)'s delivery line, as Postfix 3.x writes it:
 * `580B120C6C2: to=<u@example.com>, relay=mx.example.com[192.0.2.1]:25,
 * delay=0.25, delays=0.18/0.06/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)`,
 * optionally with `orig_to=<…>` and `conn_use=N`. Pure.
 *
 * Two parts of the line are outsiders' text: the addresses (Postfix writes a
 * quoted local part as it is, `>`, commas, `status=` and all, and with
 * info_log_address_format=internal without the quotes) and the reason in
 * parentheses (a remote server's words). A crafted address can therefore
 * make a line that reads as two different deliveries. The line is read both
 * ways an address can stretch (shortest and longest addresses that leave a
 * well-formed rest); when they differ, no reading is safe and the line is
 * refused. An address with a character that Postfix writes only inside
 * quotes is refused too, so what is believed never holds a crafted
 * separator. The fixed fields between the addresses and the reason have no
 * outsiders' text, and the reason is the rest of the line: once the
 * addresses are settled nothing can move them.
 */

const HEAD = '^([0-9A-Za-z]{5,20}): to=<';
const TAIL = ', relay=([\\x21-\\x2b\\x2d-\\x7e]{1,300}), (?:conn_use=\\d{1,6}, )?delay=[\\d.]{1,20}, delays=[\\d./]{1,80}, dsn=([245]\\.\\d{1,3}\\.\\d{1,3}), status=(sent|deferred|bounced|expired)(?: \\((.*)\\))?$';
/**
 * The readings of a line, as far apart as they go: shortest and longest
 * addresses, with and without an orig_to field. A line written for plain
 * addresses has one reading whichever is taken, but for one: a line with
 * orig_to also reads as one long recipient holding `>, orig_to=<`.
 */
const READINGS: readonly RegExp[] = [
  new RegExp(`${HEAD}(.*?)>(?:, orig_to=<(.*?)>)??${TAIL}`, 's'),
  new RegExp(`${HEAD}(.*)>(?:, orig_to=<(.*)>)?${TAIL}`, 's'),
  new RegExp(`${HEAD}(.*)>, orig_to=<(.*)>${TAIL}`, 's'),
  new RegExp(`${HEAD}(.*?)>, orig_to=<(.*?)>${TAIL}`, 's'),
];
/** Postfix writes these in an address only inside a quoted local part (RFC 5322 specials, space, controls). */
// eslint-disable-next-line no-control-regex -- control characters are among what is refused
const QUOTED_ONLY = /["<>(),;\\\s\u0000-\u001f\u007f]/;
/** Longer lines are no delivery lines of smtp(8) (an address is at most 1 KiB or so); they cost a reading each. */
const MAX_DELIVERY_LINE = 8192;

/** What a line says, when it is smtp(8)'s delivery line. */
export type DeliveryLine =
  | { readonly kind: 'delivery'; readonly delivery: Delivery }
  /** Shaped like a delivery line but not safe to believe: counted, never acted on. */
  | { readonly kind: 'refused'; readonly why: 'ambiguous' | 'quoted address' | 'too long' };

/** The host of a `relay=` value: `mx.example.com[192.0.2.1]:25` → `mx.example.com`. */
function relayHostOf(relay: string): string {
  const bracket = relay.indexOf('[');
  return (bracket >= 0 ? relay.slice(0, bracket) : relay).toLowerCase();
}

/**
 * How Postfix writes addresses in its log (info_log_address_format):
 * `external`, the default since Postfix 3.5, quotes a local part that holds
 * a special character, so a reading that cuts through one holds a `"` and
 * cannot be Postfix's; `internal` writes it bare, and a line with orig_to
 * then cannot be told from an address crafted to look like one.
 */
export type AddressForm = 'external' | 'internal';

/** Only what Postfix writes outside quotes. */
const plain = (m: RegExpExecArray): boolean => !QUOTED_ONLY.test(m[2]!) && !QUOTED_ONLY.test(m[3] ?? '');

/**
 * @param form how the log writes addresses; `internal` (the strict reading) when unknown
 * @returns the delivery or why it is refused; undefined when the message is no delivery line
 */
export function parseDeliveryLine(message: string, form: AddressForm = 'internal'): DeliveryLine | undefined {
  if (!message.includes(', status=')) return undefined;
  if (message.length > MAX_DELIVERY_LINE) return { kind: 'refused', why: 'too long' };
  const readings = READINGS.map((r) => r.exec(message)).filter((m): m is RegExpExecArray => m !== null);
  if (readings.length === 0) return undefined;
  // External form: a reading that is not of plain addresses cut through quotes, and is not Postfix's.
  const candidates = form === 'external' ? readings.filter(plain) : readings;
  if (candidates.length === 0) return { kind: 'refused', why: 'quoted address' };
  const first = candidates[0]!;
  for (const other of candidates) for (let i = 1; i <= 7; i++) if (first[i] !== other[i]) return { kind: 'refused', why: 'ambiguous' };
  if (!plain(first)) return { kind: 'refused', why: 'quoted address' };
  const recipient = first[2]!;
  const at = recipient.lastIndexOf('@');
  return {
    kind: 'delivery',
    delivery: {
      queueId: first[1]!,
      recipient,
      domain: (at >= 0 ? recipient.slice(at + 1) : '').toLowerCase().replace(/\.$/, ''),
      relayHost: relayHostOf(first[4]!),
      dsn: first[5]!,
      status: first[6] as DeliveryStatus,
      reason: first[7] ?? '',
    },
  };
}

/** The delivery a message is, when it is one and safe to believe. */
export function parseDelivery(message: string, form: AddressForm = 'internal'): Delivery | undefined {
  const line = parseDeliveryLine(message, form);
  return line?.kind === 'delivery' ? line.delivery : undefined;
}

/**
 * The syslog tag of each service's deliveries → the service: `postfix-SERVICE/smtp`
 * unless an entry names its syslog_name. Pure.
 */
export function tagsOfPool(transports: readonly { value: string; syslogName?: string }[]): Map<string, string> {
  const tags = new Map<string, string>();
  for (const t of transports) {
    const service = serviceOf(t.value);
    tags.set(`${t.syslogName ?? `postfix-${service}`}/smtp`, service);
  }
  return tags;
}
