import type { Manifest, ManifestFile } from '../pack/manifest.js';
import { sortEntries } from '../pack/collect.js';
import { str } from './graph.js';
import { manifestDigest } from './manifest-digest.js';
import type { PackageJson } from './types.js';

/** The seed's own SBOM format (`--legacy-sbom`). */
export interface LegacySbom {
  schema: 'aether-sbom-v1';
  package: string | null;
  version: string | null;
  total_files: number;
  total_size: number;
  /** manifestDigest(): sorted, so it matches what the server computes from the manifest. */
  manifest_digest: string;
  files: ManifestFile[];
  /** package.json `dependencies` as declared (ranges, not resolved versions), by name. */
  dependencies: Array<{ name: string; spec: string }>;
}

export const LEGACY_SBOM_MEDIA_TYPE = 'application/json';

/**
 * The seed's `aether-sbom-v1` document as pretty JSON with a trailing newline. Same fields as
 * the seed; two differences: `manifest_digest` is computed over the sorted manifest (the seed's
 * walk-order value disagreed with the server's), and `dependencies` are in name order.
 */
export function buildLegacySbom({ packageJson, manifest }: { packageJson: PackageJson; manifest: Manifest }): string {
  const declared = packageJson.dependencies;
  const dependencies =
    declared && typeof declared === 'object' && !Array.isArray(declared)
      ? Object.entries(declared as Record<string, unknown>).flatMap(([name, spec]) => (typeof spec === 'string' ? [{ name, spec }] : []))
      : [];
  const sbom: LegacySbom = {
    schema: 'aether-sbom-v1',
    package: str(packageJson.name) ?? null,
    version: str(packageJson.version) ?? null,
    total_files: manifest.total_files,
    total_size: manifest.total_size,
    manifest_digest: manifestDigest(manifest),
    files: manifest.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
    dependencies: sortEntries(dependencies.map((dep) => ({ ...dep, path: dep.name }))).map(({ name, spec }) => ({ name, spec })),
  };
  return `${JSON.stringify(sbom, null, 2)}\n`;
}
