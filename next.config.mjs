/** @type {import('next').NextConfig} */
const nextConfig = {
  // Packages with native/WASM assets, Lua scripts or worker threads must be loaded by Node
  // itself, not bundled: bundling PGlite loses its WASM files and BullMQ its Lua scripts.
  serverExternalPackages: [
    '@electric-sql/pglite',
    'postgres',
    'bullmq',
    'ioredis',
    'prom-client',
    'tar',
    'drizzle-orm',
  ],
  poweredByHeader: false,
  // A second build directory lets a portal build run beside the one the test suite uses.
  distDir: process.env.AETHER_NEXT_DIST_DIR || '.next',
  typescript: { tsconfigPath: 'tsconfig.json' },
};

export default nextConfig;
