// Bundles the init container's fetch program (docker/runtime/fetch-artifact/main.ts, which
// reuses server/runtime/extract.ts) into one file with no dependencies, for the runtime image:
//   node docker/runtime/build-fetch-artifact.mjs [outfile]   (default docker/runtime/dist/fetch-artifact.mjs)
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Builds the bundle to `outfile`; returns its path. */
export async function buildFetchArtifact(outfile = path.join(here, 'dist', 'fetch-artifact.mjs')) {
  await build({
    entryPoints: [path.join(here, 'fetch-artifact', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    // CommonJS dependencies bundled into ESM still call require() for node builtins.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await buildFetchArtifact(process.argv[2] ? path.resolve(process.argv[2]) : undefined));
}
