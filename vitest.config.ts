import { defineConfig } from 'vitest/config'

// `npm test`: everything that needs only Node and npm. Tests that need Debian packages live under
// tests/system and run with `npm run test:system` (vitest.system.config.ts).
export const sharedTestOptions = {
  globalSetup: ['tests/support/global-setup.ts'],
  testTimeout: 30_000,
  hookTimeout: 120_000,
  pool: 'forks' as const,
}

export default defineConfig({
  test: {
    ...sharedTestOptions,
    include: ['tests/**/*.test.ts'],
    exclude: ['tests/system/**', 'node_modules/**'],
  },
})
