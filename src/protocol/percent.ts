/**
 * The %XX codec that tcp_table(5) uses for keys and replies.
 * Pure; no I/O.
 */

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decodes %XX escapes in `bytes`.
 * @returns the decoded bytes, or `undefined` when an escape is malformed
 *   (`%` not followed by two hex digits).
 */
export function percentDecode(bytes: Buffer): Buffer | undefined {
  if (bytes.indexOf(0x25) === -1) return bytes;
  const out = Buffer.allocUnsafe(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c !== 0x25) {
      out[o++] = c;
      continue;
    }
    const hi = i + 1 < bytes.length ? hexValue(bytes[i + 1]!) : -1;
    const lo = i + 2 < bytes.length ? hexValue(bytes[i + 2]!) : -1;
    if (hi < 0 || lo < 0) return undefined;
    out[o++] = hi * 16 + lo;
    i += 2;
  }
  return out.subarray(0, o);
}

/** True for the bytes tcp_table(5) wants encoded: `%`, whitespace, non-printables. */
function needsEscape(c: number): boolean {
  return c <= 0x20 || c >= 0x7f || c === 0x25;
}

/** Encodes `%`, whitespace and non-printable bytes of `text` (UTF-8) as %XX. */
export function percentEncode(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  let plain = true;
  for (const c of bytes) {
    if (needsEscape(c)) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = '';
  for (const c of bytes) {
    out += needsEscape(c) ? `%${HEX[c >> 4]}${HEX[c & 15]}` : String.fromCharCode(c);
  }
  return out;
}
