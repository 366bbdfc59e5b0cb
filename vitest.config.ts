import { defineConfig } from 'vitest/config';

// The JSON report is read by .ci/run to print the closing `N passed, N failed` line.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { LSMRAFT_INVARIANTS: '1' },
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
