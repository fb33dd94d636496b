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
 * Decodes %XX escapes in a byte string (latin1, one char per byte).
 * @returns the decoded byte string, or `undefined` when an escape is
 *   malformed (`%` not followed by two hex digits)
 */
export function percentDecode(bytes: string): string | undefined {
  let i = bytes.indexOf('%');
  if (i === -1) return bytes;
  let out = bytes.slice(0, i);
  for (; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    if (c !== 0x25) {
      out += bytes[i];
      continue;
    }
    const hi = hexValue(bytes.charCodeAt(i + 1));
    const lo = hexValue(bytes.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    out += String.fromCharCode(hi * 16 + lo);
    i += 2;
  }
  return out;
}

/** True for the bytes tcp_table(5) wants encoded: `%`, whitespace, non-printables. */
function needsEscape(c: number): boolean {
  return c <= 0x20 || c >= 0x7f || c === 0x25;
}

/** Encodes `%`, whitespace and non-printable bytes of a byte string as %XX. */
export function percentEncodeBytes(bytes: string): string {
  let out = '';
  let plainFrom = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    if (!needsEscape(c)) continue;
    out += `${bytes.slice(plainFrom, i)}%${HEX[c >> 4]}${HEX[c & 15]}`;
    plainFrom = i + 1;
  }
  return plainFrom === 0 ? bytes : out + bytes.slice(plainFrom);
}

/** Encodes `%`, whitespace and non-printable bytes of `text` (as UTF-8) as %XX. */
export function percentEncode(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\s%\u0000-\u001f\u007f-\uffff]/.test(text)) return text;
  return percentEncodeBytes(Buffer.from(text, 'utf8').toString('latin1'));
}
