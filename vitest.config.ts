import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `@/x` is the project root's x, as tsconfig.json's `paths` say (tsc, tsx, Next and esbuild read it there).
  resolve: { alias: [{ find: /^@\//, replacement: fileURLToPath(new URL('./', import.meta.url)) }] },
  test: {
    include: ['tests/**/*.test.ts'],
    // Real processes, databases and servers: generous but bounded.
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Two cores: files run in parallel forks, two at a time.
    pool: 'forks',
    maxWorkers: 2,
    setupFiles: ['tests/support/localhost-resolver.ts'],
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      NEXT_TELEMETRY_DISABLED: '1',
    },
  },
});
