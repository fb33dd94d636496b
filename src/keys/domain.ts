/**
 * What a lookup key says about its domain, as config's match rules, sticky
 * balancing and warm-up's provider groups read it. Pure.
 *
 * Keys are byte strings (one char per byte, see protocol/types.ts); case is
 * folded in ASCII only, the way Postfix compares domains.
 */

/** ASCII-only lower case: latin1 case folding would conflate UTF-8 bytes (0xC3 vs 0xE3). */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/**
 * The domain of a folded key: after the last `@` of an address (`""` for
 * `user@`), the key itself when it has no `@` (a bare domain, as typed by
 * hand), one trailing dot removed.
 */
export function domainOf(folded: string): string {
  const at = folded.lastIndexOf('@');
  const d = at >= 0 ? folded.slice(at + 1) : folded;
  return d.endsWith('.') ? d.slice(0, -1) : d;
}

/** The null sender as Postfix asks it: `"<>"`, and `<>` when that is not found. */
export function isNullSender(key: string): boolean {
  return key === '"<>"' || key === '<>';
}

/** The key sticky hashing uses: the domain, else the whole folded key (`user@`); both null sender keys are one. */
export function stickyKeyOf(key: string): string {
  const folded = asciiLower(key);
  if (isNullSender(folded)) return '<>';
  return domainOf(folded) || folded;
}
