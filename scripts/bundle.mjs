// Bundles the CLI into one CommonJS file, dist/postbal.cjs, which bin/postbal
// loads. One file instead of ~30 ES modules and two packages cuts the start-up
// time to the first reply roughly in half (see README, design notes): Postfix
// starts one instance per connection, so start-up is on the mail path.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: [new URL('../src/cli.ts', import.meta.url).pathname],
  outfile: new URL('../dist/postbal.cjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20.17',
  // Loaded lazily, only when used: a remote syslog target, or creating a state file.
  external: ['syslog-pro', 'write-file-atomic'],
  define: { __POSTBAL_VERSION__: JSON.stringify(version) },
  logLevel: 'warning',
  // atomic-write.ts reads import.meta.url only when `require` is missing, never in this bundle.
  logOverride: { 'empty-import-meta': 'silent' },
});
