import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { stateFileOf, type Layout } from './layout';

/** What the runtime remembers about an app's current instance, one JSON file per app. */
export const ZInstanceState = z.object({
  deploymentId: z.string(),
  pid: z.number().int().positive(),
  port: z.number().int().positive(),
  digest: z.string(),
  storageKey: z.string(),
  startedAt: z.string(),
  /** Kernel start time of `pid` (from /proc), to tell our process from a reused pid. */
  procStart: z.string().nullable().optional(),
  /** The instance's cgroup dirs, removed when it stops. */
  cgroups: z.array(z.string()).optional(),
});
export type TInstanceState = z.infer<typeof ZInstanceState>;

/** The app's current instance, or null when there is none (or the file is unreadable). */
export async function readState(layout: Layout, appName: string): Promise<TInstanceState | null> {
  const raw = await readFile(stateFileOf(layout, appName), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (raw === null) return null;
  try {
    const parsed = ZInstanceState.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Replaces the state file atomically (write, fsync, rename): a crash leaves old or new, never half. */
export async function writeState(layout: Layout, appName: string, state: TInstanceState): Promise<void> {
  const file = stateFileOf(layout, appName);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

export async function removeState(layout: Layout, appName: string): Promise<void> {
  await rm(stateFileOf(layout, appName), { force: true });
}
