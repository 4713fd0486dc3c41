import { defineConfig } from 'vitest/config'

import { sharedTestOptions } from './vitest.config.ts'

// `npm run test:system`: tests that need Debian packages (pg_dump, pgbouncer, PostgreSQL 15 with
// pg_cron, Chromium). `.ci/run` installs them first.
export default defineConfig({
  test: {
    ...sharedTestOptions,
    include: ['tests/system/**/*.test.ts'],
    testTimeout: 120_000,
  },
})
