/**
 * Layers point down only: every import in src/ goes to a lower layer (or
 * within its own folder). The table is the architecture, bottom first; a new
 * upward or sideways import fails here with the file and the import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import type { Node as TsNode } from 'typescript';
import { ROOT } from '../helpers/postbal.js';

/** The table (scripts/layers.mjs), shared with the lint rule. */
const layersModule = (await import(pathToFileURL(join(ROOT, 'scripts/layers.mjs')).href)) as {
  LAYERS: readonly (readonly string[])[];
  layerRules: () => unknown[];
};
const LAYERS = layersModule.LAYERS;

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

test('the lint rule refuses an upward or sideways import, at every depth, naming both layers; a downward one passes', async () => {
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    baseConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...(layersModule.layerRules() as never[])],
  });
  const lint = async (filePath: string, from: string): Promise<string[]> => {
    const [r] = await eslint.lintText(`import { x } from '${from}';\nexport const y = x;\n`, { filePath: join(ROOT, filePath) });
    return r!.messages.map((m) => m.message);
  };
  assert.deepEqual(await lint('src/balance/probe.ts', '../state/memo.js'), ['\'../state/memo.js\' import is restricted from being used by a pattern. layers point down only (scripts/layers.mjs): balance (layer 4) may not import state (layer 5)']);
  assert.match((await lint('src/balance/eligibility/probe.ts', '../../handler.js'))[0] ?? '', /balance \(layer 4\) may not import handler\.ts \(layer 7\)/);
  assert.match((await lint('src/feedback/probe.ts', '../policy/router.js'))[0] ?? '', /feedback \(layer 6\) may not import policy \(layer 6\)/, 'a neighbour of its own layer');
  assert.match((await lint('src/handler.ts', './io/serve.js'))[0] ?? '', /handler\.ts \(layer 7\) may not import io/);
  assert.deepEqual(await lint('src/state/probe.ts', '../balance/select.js'), [], 'downward');
  assert.deepEqual(await lint('src/balance/eligibility/probe.ts', '../types.js'), [], 'within its own folder');
});

test('no module of src/ over 300 lines and no function over 60: a feature that would grow one splits it in the same change', async () => {
  const ts = (await import('typescript')).default;
  const src = join(ROOT, 'src');
  const problems: string[] = [];
  let functions = 0;
  for (const file of sources(src)) {
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n').length;
    if (lines > 300) problems.push(`${relative(src, file)}: ${lines} lines`);
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const visit = (n: TsNode): void => {
      if (ts.isFunctionLike(n) && 'body' in n && n.body) {
        functions++;
        const first = sf.getLineAndCharacterOfPosition(n.getStart()).line;
        const last = sf.getLineAndCharacterOfPosition(n.end).line;
        if (last - first + 1 > 60) problems.push(`${relative(src, file)}:${first + 1}: ${n.name?.getText() ?? '(anonymous)'} is ${last - first + 1} lines`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  assert.ok(functions > 500, `the functions were found (${functions})`);
  assert.deepEqual(problems, []);
});
