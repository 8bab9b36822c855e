import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { PackEntry } from './collect.js';
import { packTempPath } from './ignore-rules.js';
import { buildManifest, type Manifest, type ManifestFile } from './manifest.js';
import { ParallelGzip } from './parallel-gzip.js';
import { writeTar } from './tar-records.js';

export interface PackOptions {
  /** Project root the entries' paths are relative to. */
  root: string;
  /** Entries in artifact order, normally straight from collectFiles. */
  entries: readonly PackEntry[];
  /** Where the .tar.gz ends up; written via a temp file in the same directory. */
  outFile: string;
  /** gzip level 1-9, default 6. Part of the artifact's identity: same tree + level = same digest. */
  compressionLevel?: number;
}

export interface PackResult {
  /** Lowercase hex sha256 of the exact bytes of the .tar.gz. */
  digest: string;
  sizeBytes: number;
  manifest: Manifest;
}

/**
 * Packs `entries` into a deterministic tar.gz at `outFile`: the same tree and level give the same
 * bytes whatever the mtimes, owners, umask, readdir order or number of cores of the machine. The
 * tar stream is compressed in parallel blocks (see ParallelGzip); the digest and the per-file
 * hashes are computed while streaming, and memory stays bounded by a few blocks. On failure no
 * file is left at `outFile` (nor a temp file beside it).
 */
export async function packArtifact(opts: PackOptions): Promise<PackResult> {
  const level = opts.compressionLevel ?? 6;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new RangeError(`compressionLevel must be an integer from 1 to 9, got ${level}`);
  }
  const files: ManifestFile[] = [];
  const hash = createHash('sha256');
  let sizeBytes = 0;

  const tempPath = packTempPath(opts.outFile);
  let fd: number | undefined;
  try {
    const out = openSync(tempPath, 'wx', 0o644);
    fd = out;
    // Synchronous writes: an async one would queue behind the deflate jobs on the thread pool,
    // and the page cache absorbs a quarter of the input's bytes in a few milliseconds.
    const gzip = new ParallelGzip({
      level,
      onOutput: (chunk) => {
        hash.update(chunk);
        writeAll(out, chunk);
        sizeBytes += chunk.length;
      },
    });
    await writeTar(opts.root, opts.entries, gzip, (file) => files.push(file));
    await gzip.end();
    // No fsync: it cost more than the whole pack of a small service. The rename already keeps
    // readers from ever seeing half an artifact; only a power loss could leave a short file under
    // the final name, and every consumer checks the bytes against the digest (the upload's
    // verification), so such a file is refused, never deployed.
    fd = undefined;
    closeSync(out);
    await rename(tempPath, opts.outFile);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    await rm(tempPath, { force: true });
    throw err;
  }
  return { digest: hash.digest('hex'), sizeBytes, manifest: buildManifest(files) };
}

function writeAll(fd: number, chunk: Buffer): void {
  for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd, chunk, offset);
}
