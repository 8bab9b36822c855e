import { chmod, lchown, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Hands an unpacked tree to the app's uid (files and links, without following links: the
 * extractor already refused links leading out). The top dir becomes 0700: its uid only.
 */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  await chmod(dir, 0o700);
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    await Promise.all(
      entries.map(async (e) => {
        const p = path.join(d, e.name);
        await lchown(p, uid, gid);
        if (e.isDirectory()) await walk(p);
      }),
    );
  };
  await walk(dir);
}
