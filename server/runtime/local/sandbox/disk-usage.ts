import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

/** Bytes the tree under `dir` occupies on disk (allocated blocks, hard links counted once). */
export async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  const walk = async (p: string): Promise<number> => {
    const st = await lstat(p).catch(() => null);
    if (!st) return 0;
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return 0;
      seen.add(key);
    }
    let total = st.blocks * 512;
    if (st.isDirectory()) {
      const names = await readdir(p).catch(() => [] as string[]);
      for (const name of names) total += await walk(path.join(p, name));
    }
    return total;
  };
  return walk(dir);
}
