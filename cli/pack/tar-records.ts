import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { Header } from 'tar/header';
import { Pax } from 'tar/pax';
import type { PackEntry, PackFileEntry } from './collect.js';
import type { ManifestFile } from './manifest.js';

/**
 * The mtime of every entry. 1980-01-01 rather than the epoch: tools treat 0 as "unset", and it
 * is the earliest date zip can hold should an artifact ever be repacked.
 */
export const FIXED_MTIME = new Date('1980-01-01T00:00:00Z');

const BLOCK_SIZE = 512;
/** Two zero blocks end a tar archive. */
const END_OF_ARCHIVE_SIZE = 2 * BLOCK_SIZE;
// O_NOFOLLOW: if the file was swapped for a symlink since collection, fail rather than pack
// whatever it points at (possibly outside the project).
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

/** The normalised mode of an entry: only the file's execute bits survive from the disk. */
export function entryMode(entry: PackEntry): number {
  if (entry.type === 'file') return entry.executable ? 0o755 : 0o644;
  return entry.type === 'directory' ? 0o755 : 0o777;
}

/**
 * The header block(s) for an entry. We build them with tar's Header rather than its Pack,
 * because Pack turns files with several links into hard-link entries (so the bytes depend on how
 * the tree was installed), keeps 0700-style modes and drops mtime from directories.
 */
export function encodeHeader(entry: PackEntry): Buffer {
  const path = entry.type === 'directory' ? `${entry.path}/` : entry.path;
  const linkpath = entry.type === 'symlink' ? entry.target : '';
  const size = entry.type === 'file' ? entry.size : 0;
  const fast = plainHeader(path, linkpath, entryMode(entry), size, TYPE_FLAGS[entry.type]);
  if (fast) return fast;
  const header = new Header({
    path,
    linkpath,
    mode: entryMode(entry),
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    size,
    mtime: FIXED_MTIME,
    type: entry.type === 'file' ? 'File' : entry.type === 'directory' ? 'Directory' : 'SymbolicLink',
  });
  const needsPax = header.encode();
  if (!header.block) throw new Error(`tar header not encoded for ${entry.path}`);
  if (!needsPax) return header.block;
  // Long or non-ASCII names (and files over 8 GiB) need a pax record; it carries only those
  // fields, never atime/ctime/dev/ino, so it is as deterministic as the header itself.
  const pax = new Pax({ path, linkpath: linkpath || undefined, size: size > MAX_OCTAL_SIZE ? size : undefined });
  return Buffer.concat([pax.encode(), header.block]);
}

const TYPE_FLAGS = { file: 0x30, directory: 0x35, symlink: 0x32 } as const;
const MAX_OCTAL_SIZE = 0o77777777777;
const ASCII = /^[\x00-\x7f]*$/;
let headerTemplate: Buffer | undefined;

/**
 * The common case (short ASCII names, which is nearly all of node_modules) written directly into
 * a copy of a template: tar's Header costs ~10 us per entry, a visible share of packing 15k
 * files. Byte-identical to what Header writes (tests/unit/pack-gzip.test.ts compares them);
 * anything Header would split into a prefix or a pax record returns undefined.
 */
function plainHeader(path: string, linkpath: string, mode: number, size: number, typeflag: number): Buffer | undefined {
  if (path.length >= 100 || linkpath.length > 100 || size > MAX_OCTAL_SIZE) return undefined;
  if (!ASCII.test(path) || !ASCII.test(linkpath)) return undefined;
  if (!headerTemplate) {
    const header = new Header({ path: '', linkpath: '', mode: 0, uid: 0, gid: 0, uname: '', gname: '', size: 0, mtime: FIXED_MTIME });
    header.encode();
    headerTemplate = header.block!;
    // Checksum as computed: over the block with its own field read as spaces.
    headerTemplate.fill(0x20, 148, 156);
  }
  const block = Buffer.from(headerTemplate);
  block.write(path, 0, 'latin1');
  block.write(octal(mode, 8), 100, 'latin1');
  block.write(octal(size, 12), 124, 'latin1');
  block[156] = typeflag;
  block.write(linkpath, 157, 'latin1');
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += block[i]!;
  block.write(octal(sum, 8), 148, 'latin1');
  return block;
}

/** tar's numeric field format: zero-padded octal, then a space and a NUL when there is room. */
function octal(n: number, width: number): string {
  const digits = n.toString(8);
  return digits.length === width - 1 ? `${digits}\0` : `${digits.padStart(width - 2, '0')} \0`;
}

/**
 * Where the tar stream goes: ParallelGzip, or anything with the same contract. Input is written
 * synchronously; whenever `backlogged` is set the writer awaits `drain()` before writing more.
 */
export interface TarSink {
  /** The writable rest of the current buffer (never empty), to fill in place and `commit`. */
  space(): Buffer;
  commit(n: number): void;
  write(bytes: Uint8Array): void;
  writeZeros(n: number): void;
  readonly backlogged: boolean;
  drain(): Promise<void>;
}

/**
 * Writes the tar stream for `entries` in the given order, reading each file once, straight into
 * the sink's buffer, and reporting its sha256 through `onFile` as it goes (so the manifest needs
 * no second pass over the tree).
 */
export async function writeTar(
  root: string,
  entries: readonly PackEntry[],
  out: TarSink,
  onFile: (file: ManifestFile) => void,
): Promise<void> {
  const base = join(root, sep);
  for (const entry of entries) {
    out.write(encodeHeader(entry));
    if (entry.type === 'file') {
      onFile(await copyFile(entry.source ?? base + entry.path, entry, out));
      out.writeZeros((BLOCK_SIZE - (entry.size % BLOCK_SIZE)) % BLOCK_SIZE);
    }
    if (out.backlogged) await out.drain();
  }
  out.writeZeros(END_OF_ARCHIVE_SIZE);
}

/**
 * Synchronous calls: a node_modules tree is thousands of small files, and a thread-pool round
 * trip per call (open, stat, read, stat, close) made packing several times slower than GNU tar;
 * the pool's threads are better spent compressing. Large files yield between blocks, so memory
 * stays bounded by the compressor's window.
 */
async function copyFile(absPath: string, entry: PackFileEntry, out: TarSink): Promise<ManifestFile> {
  const fd = openSync(absPath, OPEN_FLAGS);
  try {
    const before = checkAsCollected(fstatSync(fd), entry);
    const hash = createHash('sha256');
    for (let offset = 0; offset < entry.size; ) {
      const space = out.space();
      const n = readSync(fd, space, 0, Math.min(space.length, entry.size - offset), offset);
      if (n === 0) throw changedError(entry);
      hash.update(space.subarray(0, n));
      out.commit(n);
      offset += n;
      if (out.backlogged) await out.drain();
    }
    // Growth or an in-place rewrite is invisible to a bounded read; a second stat catches both.
    if (checkAsCollected(fstatSync(fd), entry).mtimeMs !== before.mtimeMs) throw changedError(entry);
    return { path: entry.path, size: entry.size, sha256: hash.digest('hex') };
  } finally {
    closeSync(fd);
  }
}

function checkAsCollected(stats: Stats, entry: PackFileEntry): Stats {
  if (!stats.isFile() || stats.size !== entry.size) throw changedError(entry);
  return stats;
}

function changedError(entry: PackFileEntry): Error {
  return new Error(`${entry.path} changed while packing (expected ${entry.size} bytes); pack again`);
}
