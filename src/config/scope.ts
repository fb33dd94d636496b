import type { ScopeConfig, ScopeRule } from './types.js';
import { asciiLower, domainOf, isNullSender } from '../keys/domain.js';

// Re-exported for config's users; the helpers live below config (keys/domain.ts).
export { asciiLower, domainOf } from '../keys/domain.js';

/**
 * Which keys postbal answers (`match` in postbal.cf). Pure.
 *
 * Keys arrive %XX-decoded as byte strings (one char per byte, see
 * protocol/types.ts); patterns are written in UTF-8 and compared as bytes,
 * ASCII case folded, the way Postfix compares domains. Regular expressions
 * see the key as UTF-8 text.
 */


function toBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}


/**
 * Compiles one pattern as written after `match =` (without a leading `!`).
 * @returns the rule, or what was wrong with it
 */
export function compileScopeRule(pattern: string): ScopeRule | string {
  if (pattern === '*') return { kind: 'all' };
  if (pattern === '<>' || pattern === '"<>"') return { kind: 'nullSender' };
  if (pattern.startsWith('/')) {
    const end = pattern.lastIndexOf('/');
    if (end <= 0) return 'a regular expression closed by "/" (e.g. /^bulk-/)';
    const flags = pattern.slice(end + 1);
    if (flags !== '' && flags !== 'i') return 'no flags after a regular expression\'s closing "/" (matching is case-insensitive already)';
    try {
      return { kind: 'regex', regex: new RegExp(pattern.slice(1, end), 'iu') };
    } catch (err) {
      return `a valid regular expression (${(err as Error).message})`;
    }
  }
  const bytes = asciiLower(toBytes(pattern));
  if (bytes.startsWith('"')) return { kind: 'key', key: bytes };
  const at = bytes.lastIndexOf('@');
  if (at === 0) return 'a domain, .domain, user@domain, user@, "<>", * or /regex/ (write "example.com", not "@example.com")';
  if (at > 0) {
    if (at === bytes.length - 1) return { kind: 'localpart', local: bytes.slice(0, at) };
    return { kind: 'key', key: bytes };
  }
  if (bytes.startsWith('.')) {
    if (bytes.length < 2) return 'a domain after "."';
    return { kind: 'subdomain', suffix: bytes.endsWith('.') ? bytes.slice(0, -1) : bytes };
  }
  return { kind: 'domain', domain: bytes.endsWith('.') ? bytes.slice(0, -1) : bytes };
}

function matches(rule: ScopeRule, folded: string, domain: string, text: () => string): boolean {
  switch (rule.kind) {
    case 'all': return true;
    case 'nullSender': return isNullSender(folded);
    case 'key': return folded === rule.key;
    case 'domain': return domain === rule.domain;
    case 'subdomain': return domain.endsWith(rule.suffix);
    case 'localpart': {
      const at = folded.lastIndexOf('@');
      return at >= 0 && folded.slice(0, at) === rule.local;
    }
    case 'regex': return rule.regex.test(text());
    default: {
      const unreachable: never = rule;
      return unreachable;
    }
  }
}

/** Answers every key: postbal.pl's behaviour, and the default. */
export const EVERY_KEY: ScopeConfig = Object.freeze({ include: [], exclude: [] });

/** Is `key` (decoded, as bytes) one postbal answers? Exclusions win over inclusions. */
export function inScope(scope: ScopeConfig, key: string): boolean {
  if (scope.include.length === 0 && scope.exclude.length === 0) return true;
  const folded = asciiLower(key);
  const domain = domainOf(folded);
  let utf8: string | undefined;
  const text = (): string => (utf8 ??= Buffer.from(key, 'latin1').toString('utf8'));
  for (const r of scope.exclude) if (matches(r, folded, domain, text)) return false;
  if (scope.include.length === 0) return true;
  for (const r of scope.include) if (matches(r, folded, domain, text)) return true;
  return false;
}


