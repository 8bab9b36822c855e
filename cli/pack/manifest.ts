import { rename, rm, writeFile } from 'node:fs/promises';
import { packTempPath } from './ignore-rules.js';

/** One regular file of the artifact. */
export interface ManifestFile {
  /** POSIX path relative to the project root. */
  path: string;
  size: number;
  /** Lowercase hex sha256 of the file's bytes. */
  sha256: string;
}

/** What an artifact holds: its regular files sorted by path (UTF-8 byte order), and totals. */
export interface Manifest {
  files: ManifestFile[];
  total_files: number;
  total_size: number;
}

/** Builds a manifest from files already in artifact order. */
export function buildManifest(files: ManifestFile[]): Manifest {
  return {
    files,
    total_files: files.length,
    total_size: files.reduce((sum, file) => sum + file.size, 0),
  };
}

/**
 * Writes the manifest as pretty JSON with a trailing newline, via a temp file and a rename so a
 * reader never sees half a manifest.
 */
export async function writeManifest(manifestPath: string, manifest: Manifest): Promise<void> {
  const tempPath = packTempPath(manifestPath);
  try {
    await writeFile(tempPath, `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
    await rename(tempPath, manifestPath);
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  }
}
