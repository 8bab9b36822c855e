import { afterEach } from 'vitest';
import { chmod, lutimes, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A file (text, bytes, or with an explicit mode), a symlink, or an empty directory. */
export type TreeNode =
  | string
  | Buffer
  | { content: string | Buffer; mode?: number }
  | { symlink: string }
  | { dir: true; mode?: number };

/** POSIX paths relative to the tree root mapped to what to create there. */
export type TreeSpec = Record<string, TreeNode>;

export interface WriteTreeOptions {
  /** Create nodes in reverse order (readdir order follows creation order on many filesystems). */
  reverse?: boolean;
  /** Set on every created node and parent directory, symlinks included. */
  mtime?: Date;
  /** Mode for files and directories that give none (chmod, so the umask does not apply). */
  fileMode?: number;
  dirMode?: number;
}

/** A fresh directory under the OS temp dir; remove it with removeTree. */
export function makeTempDir(prefix = 'aether-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function removeTree(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** Creates `spec` under `root`, which must exist. */
export async function writeTree(root: string, spec: TreeSpec, opts: WriteTreeOptions = {}): Promise<void> {
  const paths = Object.keys(spec);
  if (opts.reverse) paths.reverse();
  const dirs = new Set<string>();
  for (const relPath of paths) {
    const node = spec[relPath] as TreeNode;
    const absPath = join(root, relPath);
    for (let parent = dirname(relPath); parent !== '.'; parent = dirname(parent)) dirs.add(parent);
    await mkdir(dirname(absPath), { recursive: true });
    if (typeof node === 'string' || Buffer.isBuffer(node)) {
      await writeFile(absPath, node);
      if (opts.fileMode !== undefined) await chmod(absPath, opts.fileMode);
    } else if ('symlink' in node) {
      await symlink(node.symlink, absPath);
    } else if ('dir' in node) {
      dirs.add(relPath);
      await mkdir(absPath, { recursive: true });
      if (node.mode !== undefined) await chmod(absPath, node.mode);
    } else {
      await writeFile(absPath, node.content);
      const mode = node.mode ?? opts.fileMode;
      if (mode !== undefined) await chmod(absPath, mode);
    }
  }
  if (opts.dirMode !== undefined) {
    for (const dir of dirs) await chmod(join(root, dir), opts.dirMode);
  }
  if (opts.mtime) {
    // Deepest first: touching a child would otherwise bump its parent's mtime again.
    const all = [...paths, ...dirs].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const relPath of all) await lutimes(join(root, relPath), opts.mtime, opts.mtime);
    await lutimes(root, opts.mtime, opts.mtime);
  }
}

/** makeTempDir + writeTree. */
export async function makeTree(spec: TreeSpec, opts: WriteTreeOptions = {}): Promise<string> {
  const root = await makeTempDir('aether-tree-');
  await writeTree(root, spec, opts);
  return root;
}

/**
 * Temp trees and dirs for one test file, removed after each test: `const { tree, tempDir } =
 * useTempTrees();` at the top of the file.
 */
export function useTempTrees() {
  const created: string[] = [];
  afterEach(async () => {
    await Promise.all(created.splice(0).map(removeTree));
  });
  return {
    async tree(spec: TreeSpec, opts?: WriteTreeOptions): Promise<string> {
      const root = await makeTree(spec, opts);
      created.push(root);
      return root;
    },
    async tempDir(prefix?: string): Promise<string> {
      const dir = await makeTempDir(prefix);
      created.push(dir);
      return dir;
    },
  };
}
