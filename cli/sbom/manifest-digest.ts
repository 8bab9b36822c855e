import { createHash } from 'node:crypto';
import type { Manifest } from '../pack/manifest.js';

/**
 * The manifest digest: lowercase hex sha256 over one line per file, `<path>\0<sha256>\n`, with
 * the lines in the UTF-8 byte order of the paths. It identifies the artifact's *contents*
 * (paths and bytes, not sizes, which the per-file hashes already pin) independently of how
 * they were tarred and compressed.
 *
 * The seed hashed the lines in walk order on the client and sorted on the server, so the two
 * could disagree (weak spot 15); here the lines are sorted whatever order `manifest.files` is
 * in, so any party holding the manifest gets the same value. NUL cannot occur in a path, so
 * the encoding is unambiguous.
 */
export function manifestDigest(manifest: Pick<Manifest, 'files'>): string {
  const lines = manifest.files
    .map((file) => Buffer.from(`${file.path}\0${file.sha256}\n`, 'utf8'))
    .sort(Buffer.compare);
  const hash = createHash('sha256');
  for (const line of lines) hash.update(line);
  return hash.digest('hex');
}
