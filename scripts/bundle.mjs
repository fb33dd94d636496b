// Bundles the CLI into one CommonJS file, dist/postbal.cjs, which bin/postbal
// loads. One file instead of ~30 ES modules and two packages cuts the start-up
// time to the first reply roughly in half (see README, design notes): Postfix
// starts one instance per connection, so start-up is on the mail path.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// commander requires node:child_process at load time, for executable
// subcommands postbal does not have; loading it costs ~5 ms of every start.
// Within commander it is replaced by a proxy that loads it on first use.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes('/node_modules/commander/') ? { path: 'lazy-child-process', namespace: 'postbal-lazy' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'postbal-lazy' }, () => ({
      contents: "let m; module.exports = new Proxy({}, { get(_, k) { m ??= require('node:child_process'); return m[k]; } });",
      loader: 'js',
    }));
  },
};

await build({
  plugins: [lazyChildProcess],
  entryPoints: [new URL('../src/cli.ts', import.meta.url).pathname],
  outfile: new URL('../dist/postbal.cjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20.17',
  // Loaded lazily, only when used: a remote syslog target; a metrics scrape.
  external: ['syslog-pro', 'prom-client', 'ioredis'],
  define: { __POSTBAL_VERSION__: JSON.stringify(version) },
  logLevel: 'warning',
  // lazy-require.ts reads import.meta.url only when `require` is missing, never in this bundle.
  logOverride: { 'empty-import-meta': 'silent' },
});

// V8 code cache for the bundle: bin/postbal hands it to vm.Script, which then
// skips parsing and compiling what the cache covers (~2 ms of every start,
// measured). Produced after running `postbal check` on the example config, so
// it covers the functions start-up runs. A cache from another V8 version is
// rejected by V8 and the bundle is compiled as usual.
{
  const { readFileSync: read, writeFileSync: write } = await import('node:fs');
  const vm = await import('node:vm');
  const { createRequire } = await import('node:module');
  const bundle = new URL('../dist/postbal.cjs', import.meta.url).pathname;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${read(bundle, 'utf8')}\n})`, { filename: bundle });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(bundle), mod, bundle, new URL('../dist', import.meta.url).pathname);
  const quiet = process.stdout.write;
  process.stdout.write = () => true;
  try {
    await mod.exports.main(['node', 'postbal', 'check', '-c', new URL('../examples/postbal.cf', import.meta.url).pathname]);
  } finally {
    process.stdout.write = quiet;
  }
  write(`${bundle}.cache`, script.createCachedData());
}
