// The layers of src/, bottom first: a module may import only from a lower
// layer (or from within its own folder). Read by eslint.config.js (the
// no-restricted-imports rule it generates) and by test/unit/layers.test.ts.
// The picture and the path of a lookup through them: docs/design.md.

/** Top-level folders and files of src/, by layer. */
export const LAYERS = [
  ['types', 'errors.ts', 'defaults.ts', 'clock.ts', 'lazy-require.ts', 'syslog-pro.d.ts'], // no imports of ours
  ['keys', 'sys'], // facts with no policy: key hashing and domains; users, files, postconf
  ['protocol', 'log'], // codecs, log sinks
  ['config'], // postbal.cf into a frozen config
  ['balance'], // selection: eligibility, algorithms, warm-up rules; pure
  ['state'], // the state file and its locks, storing what balance defines
  ['feedback', 'policy', 'lookup-log.ts', 'fleet'], // the jobs beside lookups; the fleet's agent
  ['handler.ts'], // a lookup: config, balance and state together
  ['io'], // stdin/stdout, sockets, the process
  ['commands'], // one composition root per command (serve.ts: serving)
  ['command-word.ts', 'help-text.ts'],
  ['cli-commands'], // command lines beside cli.ts's own
  ['cli.ts'], // argv in, exit code out
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const rankOf = (unit) => LAYERS.findIndex((l) => l.includes(unit));

/**
 * ESLint configs keeping it so: for each unit of src/ and each depth of its
 * files, the relative imports that would reach a unit of its own layer or a
 * higher one are refused (no-restricted-imports), naming both layers.
 */
export function layerRules() {
  const configs = [];
  LAYERS.forEach((layer, rank) => {
    for (const unit of layer) {
      const isFile = unit.endsWith('.ts');
      for (let depth = isFile ? 0 : 1; depth <= (isFile ? 0 : 3); depth++) {
        const up = depth === 0 ? '\\./' : `(\\.\\./){${depth}}`;
        const patterns = LAYERS.slice(rank).flat().filter((u) => u !== unit && !u.endsWith('.d.ts')).map((u) => ({
          regex: `^${up}${u.endsWith('.ts') ? `${escape(u.slice(0, -3))}\\.js$` : `${escape(u)}/`}`,
          message: `layers point down only (scripts/layers.mjs): ${unit} (layer ${rank}) may not import ${u} (layer ${rankOf(u)})`,
        }));
        const files = isFile ? [`src/${unit}`] : [`src/${unit}/${'*/'.repeat(depth - 1)}*.ts`];
        configs.push({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } });
      }
    }
  });
  return configs;
}
