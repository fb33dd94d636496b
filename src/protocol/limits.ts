/**
 * Protocol limits, each with where it comes from.
 */

/**
 * tcp_table(5): "the reply ... is limited to 4096 bytes including the newline".
 * Observed against Postfix 3.7: 4095 characters plus LF is accepted, one more fails.
 */
export const TCP_TABLE_MAX_REPLY_BYTES = 4096;

/**
 * Our own cap on one request line. Postfix never sends keys near this size
 * (an address is at most a few hundred bytes), so anything longer is junk; the
 * cap keeps a hostile or broken client from growing our memory without bound.
 */
export const MAX_REQUEST_LINE_BYTES = 64 * 1024;

/** socketmap(5): "the maximum length of a netstring is 100000 bytes". */
export const SOCKETMAP_MAX_NETSTRING_BYTES = 100_000;

/**
 * Our cap on one policy delegation request (SMTPD_POLICY_README: name=value
 * lines ended by an empty line). Postfix's requests are a few hundred bytes to
 * a few KiB (ccert fields, long SASL names); a request past this is junk and
 * is answered with the default action without being forwarded.
 */
export const POLICY_MAX_REQUEST_BYTES = 64 * 1024;
