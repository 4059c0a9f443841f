import { defineConfig } from 'vitest/config';

// Suites that spawn redis-server / clickhouse-server / gateway processes run in forked workers. Two
// cores: more parallel files only adds contention and timing noise, so files run one or two at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
