import type { Command } from 'commander';

/**
 * `postbal stauts`: serving is the default command, so commander would take
 * an unknown word for an argument of `serve` and say "too many arguments for
 * 'serve'". This finds the first word of a command line that is neither an
 * option nor an option's value, and says when it names no command, with the
 * nearest command name. Pure.
 * @returns the problem, or undefined when the line names a command or none
 */
export function unknownCommandProblem(args: readonly string[], program: Command): string | undefined {
  const names = program.commands.map((c) => c.name());
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return undefined;
    if (!a.startsWith('-') || a === '-') {
      if (names.includes(a)) return undefined;
      const near = nearest(a, names);
      return `unknown command '${a}'${near ? `; did you mean ${near}?` : ''} (commands: ${names.join(', ')})`;
    }
    if (a.includes('=')) continue;
    const option = program.options.find((o) => o.short === a || o.long === a);
    // An unknown option is commander's to name (with its own suggestion).
    if (!option) return undefined;
    if (option.required || option.optional) i++;
  }
  return undefined;
}

/** The name within edit distance 2 of `word` (the closest), if any. */
function nearest(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const d = editDistance(word, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

/** Damerau-Levenshtein distance (optimal string alignment): a swap of neighbours counts 1. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
