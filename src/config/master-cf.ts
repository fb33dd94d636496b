/**
 * Postfix's master.cf, read as master(5) defines it, for `postbal check`:
 * which services exist, what runs them, their `-o` overrides and, for
 * spawn(8) services, `user=` and `argv=`. Pure: text in, services out.
 */

export interface MasterService {
  /** Line of master.cf where the service starts (1-based). */
  readonly line: number;
  readonly name: string;
  readonly type: string;
  /** Column 2: `y`/`-` for a unix socket in private/, `n` for public/. */
  readonly private: string;
  readonly chroot: string;
  /** The daemon (`smtp`, `lmtp`, `spawn`, …). */
  readonly command: string;
  /** `-o name=value` overrides (also the `-o { name = value }` form). */
  readonly options: ReadonlyMap<string, string>;
  /** spawn(8) attributes: `user=`, and `argv=` as the words that follow it. */
  readonly user?: string;
  readonly argv?: readonly string[];
}

/** The logical lines of master.cf (continuations joined), each with its first line. */
function logicalLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    if (/^\s*#/.test(raw) || raw.trim() === '') return;
    if (/^\s/.test(raw) && out.length > 0) out[out.length - 1]!.text += ` ${raw.trim()}`;
    else out.push({ line: i + 1, text: raw.trim() });
  });
  return out;
}

/** Splits command arguments into words, keeping `{ … }` groups whole (master(5)). */
function words(text: string): string[] {
  const out: string[] = [];
  const re = /\{[^}]*\}|\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) out.push(m[0]);
  return out;
}

export function parseMasterCf(text: string): MasterService[] {
  const services: MasterService[] = [];
  for (const { line, text: l } of logicalLines(text)) {
    const w = words(l);
    if (w.length < 8) continue;
    const [name, type, priv, , chroot, , , command, ...args] = w as [string, string, string, string, string, string, string, string, ...string[]];
    const options = new Map<string, string>();
    let user: string | undefined;
    let argv: string[] | undefined;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (argv) {
        argv.push(a);
      } else if (a === '-o' && i + 1 < args.length) {
        const o = args[++i]!.replace(/^\{\s*|\s*\}$/g, '');
        const eq = o.indexOf('=');
        if (eq > 0) options.set(o.slice(0, eq).trim(), o.slice(eq + 1).trim());
      } else if (a.startsWith('user=')) {
        user = a.slice(5).split(':')[0];
      } else if (a.startsWith('argv=')) {
        argv = [a.slice(5)];
      }
    }
    services.push({ line, name, type, private: priv, chroot, command, options, ...(user === undefined ? {} : { user }), ...(argv ? { argv } : {}) });
  }
  return services;
}
