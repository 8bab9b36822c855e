import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { collectFiles, packArtifact, packTempPath, writeManifest, type Manifest } from '../pack/index';
import { CliError, EXIT } from '../errors';
import type { Output } from '../output';

export interface Packed {
  artifact: string;
  digest: string;
  sizeBytes: number;
  manifest: string;
  manifestData: Manifest;
  files: number;
}

/**
 * `--out`, as the seed reads it: an existing directory (or a path ending in `/`) receives
 * `app-<digest>.tar.gz`; anything else is the exact file path. Default: the project root.
 */
async function artifactPath(root: string, out: string | undefined, digest: string): Promise<string> {
  const name = `app-${digest}.tar.gz`;
  if (!out) return path.join(root, name);
  const resolved = path.resolve(out);
  if (out.endsWith('/') || (await stat(resolved).then((s) => s.isDirectory(), () => false))) return path.join(resolved, name);
  return resolved;
}

export function parseCompressionLevel(value: string | undefined): number {
  if (value === undefined) return 6;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new CliError(EXIT.usage, `--compression-level must be an integer from 1 to 9, got "${value}"`);
  return n;
}

/**
 * Packs deterministically into a temp file (excluded from packing), names it by digest, writes the
 * manifest. `modulesRoot` holds the node_modules to ship when it is not the project's own.
 */
export async function packProject(root: string, opts: { out?: string; compressionLevel: number; modulesRoot?: string }, log: Output): Promise<Packed> {
  const t0 = performance.now();
  const entries = await collectFiles(root, { modulesRoot: opts.modulesRoot });
  const outDir = opts.out && (opts.out.endsWith('/') || (await stat(path.resolve(opts.out)).then((s) => s.isDirectory(), () => false))) ? path.resolve(opts.out) : root;
  await mkdir(outDir, { recursive: true });
  const temp = packTempPath(path.join(outDir, 'app.tar.gz'));
  try {
    const result = await packArtifact({ root, entries, outFile: temp, compressionLevel: opts.compressionLevel });
    const artifact = await artifactPath(root, opts.out, result.digest);
    await mkdir(path.dirname(artifact), { recursive: true });
    await rename(temp, artifact);
    const manifest = `${artifact}.manifest.json`;
    await writeManifest(manifest, result.manifest);
    log.info(`packed ${result.manifest.total_files} files into ${path.basename(artifact)} (${result.sizeBytes} bytes) in ${Math.round(performance.now() - t0)} ms`);
    return { artifact, digest: result.digest, sizeBytes: result.sizeBytes, manifest, manifestData: result.manifest, files: result.manifest.total_files };
  } finally {
    await rm(temp, { force: true });
  }
}

/** What a pack would contain, without writing anything (`--dry-run`). */
export async function previewPack(root: string): Promise<{ files: number; totalSize: number }> {
  const entries = await collectFiles(root);
  let files = 0;
  let totalSize = 0;
  for (const e of entries) {
    if (e.type !== 'file') continue;
    files++;
    totalSize += e.size;
  }
  return { files, totalSize };
}
