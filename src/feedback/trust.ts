import type { Delivery, LogRecord } from './types.js';
import { parseLogLine } from './log-line.js';
import { parseDeliveryLine, type AddressForm } from './delivery.js';
import { quoteForLog } from '../log/format.js';

/**
 * Whether a log line may steer balancing. Any local user can write a line
 * that looks like Postfix's (`logger -t postfix-smtp1/smtp …`, `postlog`),
 * so a line is believed only when the kernel's credentials of its sender,
 * as journald or rsyslog recorded them, say it is Postfix's mail_owner
 * (smtp(8) runs as that user). A line without credentials is believed only
 * when the administrator said so (--trust-input). A line whose credentials
 * name anyone else is never believed.
 */
export interface TrustPolicy {
  /** The uid of Postfix's mail_owner (`postconf -h mail_owner`). */
  readonly mailOwnerUid: number | undefined;
  /** Believe lines that carry no credentials (plain syslog lines). */
  readonly trustInput: boolean;
}

export function isTrusted(record: LogRecord, policy: TrustPolicy): boolean {
  if (record.uid === undefined) return policy.trustInput;
  return policy.mailOwnerUid !== undefined && record.uid === policy.mailOwnerUid;
}

/** What one line of the log is to feedback. */
export type JudgedLine =
  | { readonly kind: 'delivery'; readonly service: string; readonly delivery: Delivery }
  /** Not a delivery line of a pool's service. */
  | { readonly kind: 'other' }
  /** Its sender is not mail_owner (or it carries no credentials, without --trust-input). */
  | { readonly kind: 'untrusted'; readonly why: string }
  /** An address crafted to read as other fields: the sender's own mail, never a decision. */
  | { readonly kind: 'refused'; readonly why: string };

/**
 * One log line judged: parsed (feedback/log-line.ts, feedback/delivery.ts),
 * by a service of the pool (`tags`: syslog tag -> service), believed by its
 * sender's credentials. Pure, but for `policy`, asked only for lines that
 * carry credentials, and `form`, asked for lines with orig_to only.
 */
export function judgeLine(line: string, tags: ReadonlyMap<string, string>, trustInput: boolean, policy: () => TrustPolicy, form: () => AddressForm): JudgedLine {
  const record = parseLogLine(line);
  // The form matters only to a line with orig_to; others are read the strict way, without asking.
  const parsed = record && tags.has(record.tag) ? parseDeliveryLine(record.message, record.message.includes(', orig_to=<') ? form() : 'internal') : undefined;
  const service = record ? tags.get(record.tag) : undefined;
  if (!record || !parsed || service === undefined) return { kind: 'other' };
  if (!isTrusted(record, record.uid === undefined ? { mailOwnerUid: undefined, trustInput } : policy())) {
    return { kind: 'untrusted', why: `a line of ${quoteForLog(record.tag, 64)} not believed: ${record.uid === undefined ? 'it carries no sender credentials (--trust-input believes such lines)' : `sent by uid ${record.uid}, not mail_owner`}` };
  }
  if (parsed.kind === 'refused') return { kind: 'refused', why: `a delivery line of ${quoteForLog(record.tag, 64)} refused (${parsed.why}): its address could be read as other fields` };
  return { kind: 'delivery', service, delivery: parsed.delivery };
}
