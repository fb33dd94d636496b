// Installs the locked dependencies when they are missing or older than
// package-lock.json, so that `npm test` and `npm run demo` work on a fresh
// clone with no other step. Quiet and quick when everything is in place.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const marker = `${root}node_modules/.package-lock.json`;
const lock = `${root}package-lock.json`;
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.log('postbal: installing dependencies (npm ci)...');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: root, stdio: 'inherit' });
}

// postbal refuses a pool or policy file that group or others can write (another
// local user could route mail through it); a checkout made under umask 002
// leaves the examples so. They are the project's own files: made 0644 here.
for (const dir of ['examples', 'examples/relay']) {
  for (const name of readdirSync(`${root}${dir}`)) {
    const path = `${root}${dir}/${name}`;
    if (!name.endsWith('.cf') || !statSync(path).isFile()) continue;
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o022) chmodSync(path, mode & ~0o022);
  }
}
