/**
 * Layers point down only: every import in src/ goes to a lower layer (or
 * within its own folder). The table is the architecture, bottom first; a new
 * upward or sideways import fails here with the file and the import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from '../helpers/postbal.js';

/** Top-level folders and files of src/, by layer: each may import only what sits in a lower layer. */
const LAYERS: readonly (readonly string[])[] = [
  ['types', 'errors.ts', 'defaults.ts', 'clock.ts', 'lazy-require.ts', 'syslog-pro.d.ts'], // no imports of ours
  ['keys', 'sys'], // facts with no policy: key hashing and domains; users, files, postconf
  ['protocol', 'log'], // codecs, log sinks
  ['config'], // postbal.cf into a frozen config
  ['balance'], // selection: eligibility, algorithms, warm-up rules; pure
  ['state'], // the state file and its locks, storing what balance defines
  ['feedback', 'policy', 'lookup-log.ts'], // the jobs beside lookups
  ['handler.ts'], // a lookup: config, balance and state together
  ['io'], // stdin/stdout, sockets, the process
  ['commands', 'app.ts'], // one composition per command
  ['command-word.ts', 'help-text.ts'],
  ['cli.ts'], // argv in, exit code out
];

const rankOf = (unit: string): number => LAYERS.findIndex((l) => l.includes(unit));

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (name.endsWith('.ts')) yield p;
  }
}

test('layers point down only: no src/ module imports a module of its own layer\'s neighbours or of a higher layer', () => {
  const src = join(ROOT, 'src');
  const unitOf = (file: string): string => relative(src, file).split('/')[0]!;
  const problems: string[] = [];
  let imports = 0;
  for (const file of sources(src)) {
    const from = unitOf(file);
    assert.notEqual(rankOf(from), -1, `${relative(src, file)}: its folder is in no layer of this test's table`);
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const to = unitOf(normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
      imports++;
      if (to === from) continue;
      if (rankOf(to) === -1 || rankOf(to) >= rankOf(from)) problems.push(`${relative(src, file)} imports ${m[1]} (${to}, layer ${rankOf(to)}) from layer ${rankOf(from)}`);
    }
  }
  assert.ok(imports > 200, `the imports were read (${imports})`);
  assert.deepEqual(problems, []);
});
