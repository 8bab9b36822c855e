// Bundles the CLI into ESM with lazily loaded chunks per command: cold start close to bare
// `node` instead of ~450 ms through tsx.
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));

await rm('dist/cli', { recursive: true, force: true });
await build({
  entryPoints: { aether: 'cli/index.ts' },
  outdir: 'dist/cli',
  splitting: true,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  // Its `paths` map `@/x` to the project root's x (esbuild would find it alone; named so a
  // build run from elsewhere cannot miss it).
  tsconfig: new URL('../tsconfig.json', import.meta.url).pathname,
  define: { AETHER_CLI_VERSION: JSON.stringify(pkg.version) },
  // CommonJS dependencies bundled into ESM still call require() for node builtins.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  // The CycloneDX library's XML serializer requires an optional package we never use.
  external: ['xmlbuilder2'],
  logLevel: 'warning',
});
import { chmod } from 'node:fs/promises';
await chmod('dist/cli/aether.mjs', 0o755);
