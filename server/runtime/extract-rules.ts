import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { RolloutError } from './port';

/**
 * The pure rules of safe extraction: how an entry path is normalised, which entries are
 * refused, and whether a symlink stays inside the tree. No stream plumbing here.
 */

export type NodeKind = 'dir' | 'file' | 'symlink';

/** Entry types we unpack; everything else (devices, FIFOs, vendor types) is refused. */
export const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const KNOWN_TYPES = new Set([...FILE_TYPES, 'Directory', 'SymbolicLink', 'Link']);

// Linux limits: refusing early keeps ENAMETOOLONG from surfacing as an infrastructure error.
const MAX_PATH_BYTES = 3072;
const MAX_NAME_BYTES = 255;
const MAX_DEPTH = 256;
// Same bound as the kernel's symlink resolution (MAXSYMLINKS).
const MAX_LINK_HOPS = 40;

/** The error every refusal is: the archive's fault, final, shown to the user as is. */
export function refuse(why: string): RolloutError {
  return new RolloutError('archive_refused', `archive refused: ${why}`);
}

/**
 * The refusal for a release over its unpacked-size cap (`AETHER_MAX_UNPACKED_BYTES` or the app's
 * `max_unpacked_bytes`): one wording whether the headers declared it or the written bytes showed it.
 */
export function unpackedTooLarge(maxBytes: number): RolloutError {
  return refuse(`more than ${maxBytes} bytes uncompressed (max_unpacked_bytes)`);
}

/** Refuses devices, FIFOs and every type tar knows but we do not unpack. */
export function checkType(type: string, rawPath: string): void {
  if (!KNOWN_TYPES.has(type)) throw refuse(`${rawPath}: unsupported entry type ${type}`);
}

/**
 * Turns an archive path into a clean relative path ('' is the root itself). Absolute paths
 * and `..` segments are refused rather than stripped, as tar's defaults would: an artifact
 * built by our CLI never contains them, so one that does is hostile or broken.
 */
export function normalizeEntryPath(raw: string, label = raw): string {
  if (raw.includes('\0')) throw refuse(`${label}: path contains a NUL byte`);
  if (raw.startsWith('/')) throw refuse(`${label}: absolute path`);
  const segments = raw.split('/');
  if (segments.includes('..')) throw refuse(`${label}: path contains '..'`);
  const clean = segments.filter((s) => s !== '' && s !== '.');
  if (clean.length > MAX_DEPTH) throw refuse(`${raw.slice(0, 80)}...: path too deep`);
  if (clean.some((s) => Buffer.byteLength(s) > MAX_NAME_BYTES) || Buffer.byteLength(raw) > MAX_PATH_BYTES) {
    throw refuse(`${raw.slice(0, 80)}...: path too long`);
  }
  return clean.join('/');
}

/** A symlink target must be relative and, read lexically from the link's directory, stay inside. */
export function checkSymlinkTarget(rel: string, target: string): void {
  if (!target || target.includes('\0')) throw refuse(`${rel}: empty or invalid symlink target`);
  // Absolute targets are refused even when they point into the tree: the tree is renamed
  // into place after extraction, so an absolute path could never be trusted to stay inside.
  if (target.startsWith('/')) throw refuse(`${rel}: symlink to absolute path ${target}`);
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  if (resolved === '..' || resolved.startsWith('../')) {
    throw refuse(`${rel}: symlink target ${target} points outside the archive`);
  }
}

/**
 * The tree as the archive declares it so far. Every entry is checked against it before
 * anything is written, which is what stops writing THROUGH a symlink (`a -> /etc`, then
 * `a/passwd`) and replacing one node with another.
 */
export class PlannedTree {
  readonly #nodes = new Map<string, NodeKind>();
  readonly symlinks: string[] = [];

  /** Records `rel` and its implicit parent dirs, refusing what would clobber or traverse a node. */
  add(rel: string, kind: NodeKind): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = this.#nodes.get(parent);
      if (existing === 'symlink') throw refuse(`${rel}: would be written through symlink ${parent}`);
      if (existing === 'file') throw refuse(`${rel}: parent ${parent} is a file`);
      if (!existing) this.#nodes.set(parent, 'dir');
    }
    const existing = this.#nodes.get(rel);
    if (existing && !(existing === 'dir' && kind === 'dir')) {
      throw refuse(`${rel}: duplicate entry (${existing} then ${kind})`);
    }
    this.#nodes.set(rel, kind);
    if (kind === 'symlink') this.symlinks.push(rel);
  }

  kindOf(rel: string): NodeKind | undefined {
    return this.#nodes.get(rel);
  }
}

/**
 * Resolves symlink `rel` physically inside `root` (following other links in the tree) and
 * reports whether it stays inside. The lexical check alone is not enough: with `d/e/s -> ..`,
 * a link to `d/e/s/../..` is lexically `d` but physically the parent of the root.
 */
export async function symlinkStaysInside(root: string, rel: string): Promise<boolean> {
  const stack = path.posix.dirname(rel).split('/').filter((s) => s !== '.' && s !== '');
  let pending = (await readlink(path.join(root, rel))).split('/');
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return false;
      stack.pop();
      continue;
    }
    const candidate = path.join(root, ...stack, part);
    const stat = await lstat(candidate).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
      throw err;
    });
    // Dangling from here on: nothing below exists, so only a '..' could still climb out.
    if (!stat) return !pending.includes('..');
    if (stat.isSymbolicLink()) {
      if (++hops > MAX_LINK_HOPS) return false;
      const target = await readlink(candidate);
      if (target.startsWith('/')) return false;
      pending = [...target.split('/'), ...pending];
      continue;
    }
    stack.push(part);
  }
  return true;
}
