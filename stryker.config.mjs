// npm run mutate: mutation testing of the layers that decide (protocol,
// balance, feedback, policy, config) against the unit tests, node:test run
// through Stryker's TAP runner. Each mutant runs only the test files that
// cover it. The score and the surviving mutants' kinds: docs/testing.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  mutate: [
    'src/protocol/**/*.ts',
    'src/balance/**/*.ts',
    'src/feedback/**/*.ts',
    'src/policy/**/*.ts',
    'src/config/**/*.ts',
  ],
  // The unit tests import the compiled modules (dist/src), so the mutated sources are compiled first.
  buildCommand: 'npx tsc -p tsconfig.json',
  // layers.test.js checks the sources' shape, which instrumenting changes; it mutates nothing.
  tap: { testFiles: ['dist/test/unit/!(layers).test.js'] },
  coverageAnalysis: 'perTest',
  disableTypeChecks: 'src/**/*.ts',
  // Mutants in module-level constants would need every test file run per mutant.
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 5000,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // A re-run tests again only the mutants whose code or covering tests changed.
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
