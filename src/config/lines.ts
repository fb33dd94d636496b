/**
 * The one line reader of postbal's config files (postbal.cf and the policy
 * file): lines numbered from 1, a CR before the LF dropped, surrounding
 * blanks trimmed, blank lines and `#` comments left out; and the one form of
 * a directive, `name = value`. Pure.
 */

export interface ConfigLine {
  /** 1-based, for messages. */
  readonly line: number;
  readonly text: string;
}

export function configLines(text: string): ConfigLine[] {
  const out: ConfigLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.replace(/\r$/, '').trim();
    if (trimmed !== '' && !trimmed.startsWith('#')) out.push({ line: i + 1, text: trimmed });
  });
  return out;
}

const DIRECTIVE = /^([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*)$/;

/** `name = value` (name as written, value trimmed), or undefined when the line is not one. */
export function directiveOf(text: string): { readonly name: string; readonly value: string } | undefined {
  const m = DIRECTIVE.exec(text);
  return m ? { name: m[1]!, value: m[2]!.trim() } : undefined;
}
