import type { LogRecord } from './types.js';

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
