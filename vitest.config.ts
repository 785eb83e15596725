import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources; spawned CLIs run the built dist (npm test builds first).
    alias: [
      {
        find: /^@vmprobe\/(shared|agent|test)$/,
        replacement: `${root}$1/src/index.ts`,
      },
      {
        find: /^@vmprobe\/(shared|agent|test)\/(.*)$/,
        replacement: `${root}$1/src/$2`,
      },
    ],
  },
  test: {
    include: [
      'shared/test/**/*.test.ts',
      'agent/test/**/*.test.ts',
      'test/fidelity/**/*.test.ts',
      'test/e2e/**/*.test.ts',
    ],
    // net-ping's native addon segfaults inside worker threads: run test files in child processes.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/vitest-summary-reporter.ts'],
  },
});
