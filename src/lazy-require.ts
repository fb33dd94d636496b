import { createRequire } from 'node:module';

/**
 * Loads a module when first needed instead of at start-up, synchronously.
 * Not `import()`: bin/postbal compiles the bundle with vm.Script (to use a
 * V8 code cache), where dynamic import has no loader.
 */
export function lazyRequire<T>(id: string): T {
  // In the CommonJS bundle `require` exists; in the ES module build (tests) it does not.
  const req = typeof require === 'function' ? require : createRequire(import.meta.url);
  return req(id) as T;
}
