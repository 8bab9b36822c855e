import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';

/**
 * What an entry costs at least: a block. An empty file or a short symlink has no data block
 * but takes an inode and a directory entry; uncharged, an app could make millions of them and
 * run the data dir's filesystem out of inodes within its "disk limit".
 */
export const MIN_ENTRY_BYTES = 4096;

/**
 * Bytes the tree under `dir` occupies on disk (allocated blocks, at least
 * {@link MIN_ENTRY_BYTES} an entry, hard links counted once). The walk stops once the total
 * passes `stopAbove`, and streams each directory rather than listing it whole: an app's tree
 * may be huge, and this runs in the control plane. An entry it cannot measure (a path nested
 * beyond PATH_MAX, say) is Infinity: what the watchdog cannot see must not escape the limit.
 */
export async function diskUsage(dir: string, stopAbove = Infinity): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null; // gone since its directory was read
      throw err;
    });
    if (!st) return;
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    total += Math.max(st.blocks * 512, MIN_ENTRY_BYTES);
    if (!st.isDirectory() || total > stopAbove) return;
    const entries = await opendir(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (!entries) return;
    for await (const e of entries) {
      await walk(path.join(p, e.name));
      if (total > stopAbove) break; // leaving the loop closes the directory
    }
  };
  try {
    await walk(dir);
  } catch {
    return Infinity;
  }
  return total;
}
