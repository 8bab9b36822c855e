import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header, Pax, type HeaderData } from 'tar';

/**
 * Builds artifacts (gzip tars) from in-memory descriptions, byte by byte with tar's Header
 * and Pax classes. Unlike tar's Pack, nothing is sanitised: absolute paths, `..`, links out
 * of the tree and device entries are written exactly as given, to test the extractor.
 */

export interface TarEntrySpec {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  content?: string | Buffer;
  mode?: number;
  linkpath?: string;
  devmaj?: number;
  devmin?: number;
}

/** A file map (`{ 'index.js': '...' }`) or a list of entries, in archive order. */
export type ArtifactSpec = Record<string, string | Buffer> | TarEntrySpec[];

// Fixed metadata, as the CLI's deterministic packer does: same spec, same digest.
const MTIME = new Date('2000-01-01T00:00:00Z');

export function toEntries(spec: ArtifactSpec): TarEntrySpec[] {
  if (Array.isArray(spec)) return spec;
  return Object.entries(spec).map(([p, content]) => ({ path: p, content }));
}

/** The uncompressed tar bytes of `spec`. */
export function tarBytes(spec: ArtifactSpec): Buffer {
  const blocks: Buffer[] = [];
  for (const e of toEntries(spec)) {
    const type = e.type ?? 'File';
    const body = type === 'File' ? Buffer.from(e.content ?? '') : Buffer.alloc(0);
    const data: HeaderData = {
      path: e.path,
      type,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      size: body.length,
      mtime: MTIME,
      uid: 0,
      gid: 0,
      linkpath: e.linkpath,
      devmaj: e.devmaj,
      devmin: e.devmin,
    };
    const header = new Header(data);
    if (header.encode()) {
      // Long path or linkpath: a pax extended header carries the full values.
      blocks.push(new Pax({ path: e.path, linkpath: e.linkpath, mtime: MTIME }).encode());
    }
    blocks.push(header.block as Buffer, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The gzip tar of `spec`. */
export function tarGz(spec: ArtifactSpec): Buffer {
  return gzipSync(tarBytes(spec));
}

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Writes `bytes` as `<dir>/<digest>.tar.gz` (content-addressed, like storage) and describes it. */
export async function writeArtifact(dir: string, bytes: Buffer): Promise<{ file: string; digest: string }> {
  const digest = sha256(bytes);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${digest}.tar.gz`);
  await writeFile(file, bytes);
  return { file, digest };
}
