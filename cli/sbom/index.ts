import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packTempPath } from '../pack/ignore-rules.js';
import type { Manifest } from '../pack/manifest.js';
import { buildCycloneDxSbom, CYCLONEDX_MEDIA_TYPE } from './cyclonedx.js';
import { buildLegacySbom, LEGACY_SBOM_MEDIA_TYPE } from './legacy.js';
import type { PackageJson } from './types.js';

export { buildCycloneDxSbom, CYCLONEDX_MEDIA_TYPE, serialNumberFor } from './cyclonedx.js';
export { readLockfile } from './dependencies.js';
export { buildLegacySbom, LEGACY_SBOM_MEDIA_TYPE } from './legacy.js';
export type { LegacySbom } from './legacy.js';
export { manifestDigest } from './manifest-digest.js';
export type { Lockfile, PackageJson, SbomInput } from './types.js';

export type SbomFormat = 'cyclonedx' | 'legacy';

export interface WriteSbomOptions {
  root: string;
  /** Where the shipped node_modules was installed, when not in `root`. */
  installRoot?: string;
  manifest: Manifest;
  /** The artifact the SBOM describes; the SBOM goes beside it as `<artifact>.sbom.json`. */
  artifactPath: string;
  format: SbomFormat;
  warn?: (message: string) => void;
  toolVersion?: string;
}

export interface WrittenSbom {
  path: string;
  format: SbomFormat;
  /** Content-Type for an upload of this file. */
  mediaType: string;
}

/** The SBOM sidecar of an artifact. */
export function sbomPath(artifactPath: string): string {
  return `${artifactPath}.sbom.json`;
}

/**
 * Builds the SBOM of a packed artifact (reading package.json and the lockfile from `root`) and
 * writes it beside the artifact, via a temp file and a rename so no reader sees half of it.
 */
export async function writeSbom(opts: WriteSbomOptions): Promise<WrittenSbom> {
  const packageJson = await readPackageJson(opts.root);
  const text =
    opts.format === 'legacy'
      ? buildLegacySbom({ packageJson, manifest: opts.manifest })
      : await buildCycloneDxSbom({ root: opts.root, installRoot: opts.installRoot, packageJson, manifest: opts.manifest, warn: opts.warn, toolVersion: opts.toolVersion });
  const path = sbomPath(opts.artifactPath);
  const tempPath = packTempPath(path);
  try {
    await writeFile(tempPath, text, { flag: 'wx', mode: 0o644 });
    await rename(tempPath, path);
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  }
  return { path, format: opts.format, mediaType: opts.format === 'legacy' ? LEGACY_SBOM_MEDIA_TYPE : CYCLONEDX_MEDIA_TYPE };
}

/** The project's package.json (deploy has already checked it exists and parses). */
export async function readPackageJson(root: string): Promise<PackageJson> {
  const parsed: unknown = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as PackageJson) : {};
}
