import { chmod, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import {
  checkSymlinkTarget,
  checkType,
  FILE_TYPES,
  normalizeEntryPath,
  PlannedTree,
  refuse,
  symlinkStaysInside,
  unpackedTooLarge,
} from './extract-rules';
import { dirMode, fileMode, TreeWriter } from './extract-writer';

export interface ExtractLimits {
  /**
   * Total uncompressed bytes of file bodies (and pax metadata), checked against what headers
   * declare and again against the bytes actually written. Default 1 GiB (AETHER_MAX_UNPACKED_BYTES).
   */
  maxBytes?: number;
  /** Number of entries of any kind. Default 200,000. */
  maxEntries?: number;
}

/** What was unpacked: regular files (hard links included) and their total bytes. */
export interface ExtractResult {
  files: number;
  bytes: number;
}

const DEFAULT_MAX_BYTES = 1024 ** 3;
const DEFAULT_MAX_ENTRIES = 200_000;
// A header block plus at most one block of padding.
const TAR_OVERHEAD_PER_ENTRY = 1024;

/**
 * Streams a gzip tar into `targetDir`, all or nothing. Anything hostile (absolute or `..`
 * paths, links leaving the tree, writes through symlinks, devices, FIFOs, totals over
 * `limits`, a corrupt archive) throws RolloutError('archive_refused').
 *
 * It unpacks into a fresh private sibling directory and renames it to `targetDir` only on
 * success, so a refusal leaves nothing behind, in or outside the target. `targetDir` must
 * not exist yet (or be an empty directory). Other errors (disk full, permissions, a failing
 * source) are rethrown as they are.
 */
export async function safeExtract(
  source: Readable,
  targetDir: string,
  limits: ExtractLimits = {},
): Promise<ExtractResult> {
  const target = path.resolve(targetDir);
  const parent = path.dirname(target);
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(path.join(parent, `.${path.basename(target)}.extract-`));
  try {
    const extraction = new Extraction(tmp, {
      maxBytes: limits.maxBytes ?? DEFAULT_MAX_BYTES,
      maxEntries: limits.maxEntries ?? DEFAULT_MAX_ENTRIES,
    });
    const result = await extraction.run(source);
    await chmod(tmp, 0o755);
    await rename(tmp, target);
    return result;
  } catch (err) {
    source.destroy();
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** One pass over one archive: tar parser, planned tree, writer and the first failure. */
class Extraction {
  // strict: every tar warning (bad checksum, truncation) becomes an error, which we turn
  // into a refusal instead of letting tar skip the entry and carry on.
  readonly #parser = new Parser({ strict: true });
  readonly #tree = new PlannedTree();
  readonly #writer: TreeWriter;
  readonly #totals = { entries: 0, files: 0, bytes: 0 };
  readonly #failed: Promise<never>;
  #reject: (err: unknown) => void = () => {};
  #failure: unknown = null;
  #chain: Promise<void> = Promise.resolve();
  #sawEof = false;

  constructor(
    readonly root: string,
    readonly limits: Required<ExtractLimits>,
  ) {
    this.#writer = new TreeWriter(root, limits.maxBytes);
    this.#failed = new Promise<never>((_, reject) => (this.#reject = reject));
    this.#failed.catch(() => {});
    const parser = this.#parser;
    parser.on('error', (err: Error) => this.#fail(refuse(`not a valid tar (${err.message})`)));
    // Unknown entry types and oversized pax headers are "ignored" by tar: for us, refused.
    parser.on('ignoredEntry', (e: ReadEntry) => this.#fail(refuse(`${e.path}: unsupported entry (${e.type})`)));
    parser.on('meta', (meta: string) => void (this.#totals.bytes += meta.length));
    parser.on('eof', () => (this.#sawEof = true));
    parser.on('entry', (entry: ReadEntry) => this.#onEntry(entry));
  }

  async run(source: Readable): Promise<ExtractResult> {
    const ended = new Promise<void>((resolve) => this.#parser.on('end', resolve));
    await this.#feed(source);
    if (!this.#failure) this.#parser.end();
    await Promise.race([ended, this.#failed]).catch(() => {});
    // A refusal can land mid-file: cancel that write so no handle outlives the temp dir.
    if (this.#failure) this.#writer.abort.abort();
    await this.#chain;
    await this.#writer.flush().catch((err: unknown) => this.#fail(err));
    if (this.#failure) throw this.#failure;
    for (const rel of this.#tree.symlinks) {
      if (!(await symlinkStaysInside(this.root, rel))) throw refuse(`${rel}: symlink resolves outside the archive`);
    }
    return { files: this.#totals.files, bytes: this.#totals.bytes };
  }

  /**
   * We gunzip ourselves rather than let tar do it: zlib's small output chunks, plus stopping
   * at the tar EOF marker, bound memory, where tar buffers whatever follows EOF and guards
   * only with a compression ratio that also refuses legit zero-filled files.
   */
  async #feed(source: Readable): Promise<void> {
    const inflated = createGunzip();
    pipeline(source, inflated).catch(() => {}); // its errors surface through the loop below
    const maxInflated = this.limits.maxBytes + (this.limits.maxEntries + 2) * TAR_OVERHEAD_PER_ENTRY;
    let inflatedBytes = 0;
    try {
      for await (const chunk of inflated as AsyncIterable<Buffer>) {
        if (this.#failure || this.#sawEof) break;
        inflatedBytes += chunk.length;
        if (inflatedBytes > maxInflated) throw refuse(`more than ${maxInflated} bytes of tar data`);
        if (!this.#parser.write(chunk)) {
          await Promise.race([new Promise((resolve) => this.#parser.once('drain', resolve)), this.#failed]);
        }
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      this.#fail(code.startsWith('Z_') ? refuse(`not a gzip file (${(err as Error).message})`) : err);
    }
  }

  /**
   * Entries are validated synchronously, in archive order, against the planned tree; their
   * writes then run in order on a chain (tar emits the next entry once this one is read).
   */
  #onEntry(entry: ReadEntry): void {
    if (this.#failure) return void entry.resume();
    let write: () => Promise<void>;
    try {
      write = this.#plan(entry);
    } catch (err) {
      entry.resume();
      return this.#fail(err);
    }
    this.#chain = this.#chain
      .then(() => (this.#failure ? void entry.resume() : write()))
      .catch((err: unknown) => {
        entry.resume();
        this.#fail(err);
      });
  }

  /** Validates one entry (throws a refusal) and returns the write that materialises it. */
  #plan(entry: ReadEntry): () => Promise<void> {
    const { limits } = this;
    const totals = this.#totals;
    if (++totals.entries > limits.maxEntries) throw refuse(`more than ${limits.maxEntries} entries`);
    checkType(entry.type, entry.path);
    const rel = normalizeEntryPath(entry.path);
    const linkpath = entry.linkpath ?? '';
    const drained = (then: () => Promise<void>) => async () => {
      entry.resume();
      await then();
    };
    if (rel === '') {
      if (entry.type !== 'Directory') throw refuse(`${entry.path}: entry would replace the root`);
      return drained(async () => {});
    }
    switch (entry.type) {
      case 'Directory':
        this.#tree.add(rel, 'dir');
        return drained(() => this.#writer.dir(rel, dirMode(entry.mode)));
      case 'SymbolicLink':
        checkSymlinkTarget(rel, linkpath);
        this.#tree.add(rel, 'symlink');
        return drained(() => this.#writer.symlink(rel, linkpath));
      case 'Link': {
        // Hard links are allowed only to a regular file this archive already wrote: then
        // the link cannot reach anything outside, whatever its path says.
        const to = normalizeEntryPath(linkpath, `${rel}: hard link to ${linkpath}`);
        if (this.#tree.kindOf(to) !== 'file') throw refuse(`${rel}: hard link to ${linkpath}, not a file of this archive`);
        this.#tree.add(rel, 'file');
        totals.files++;
        return drained(() => this.#writer.hardlink(rel, to));
      }
      default: {
        if (!FILE_TYPES.has(entry.type)) throw refuse(`${rel}: unsupported entry type ${entry.type}`);
        const size = entry.header.size ?? 0;
        totals.bytes += size;
        if (totals.bytes > limits.maxBytes) throw unpackedTooLarge(limits.maxBytes);
        this.#tree.add(rel, 'file');
        totals.files++;
        return () => this.#writer.file(rel, fileMode(entry.mode), entry, size);
      }
    }
  }

  #fail(err: unknown): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#reject(err);
    this.#parser.abort(new Error('extraction stopped'));
  }
}
