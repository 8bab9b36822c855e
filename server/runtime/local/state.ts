import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { stateFileOf, type Layout } from './layout';

/** One running instance of the app's release. */
export const ZInstanceRecord = z.object({
  /** '0', '1'...: names its log file and its place in the router. */
  id: z.string(),
  pid: z.number().int().positive(),
  port: z.number().int().positive(),
  /** Kernel start time of `pid` (from /proc), to tell our process from a reused pid. */
  procStart: z.string().nullable().optional(),
  /** The instance's cgroup dirs, removed when it stops. */
  cgroups: z.array(z.string()).optional(),
  startedAt: z.string(),
});
export type TInstanceRecord = z.infer<typeof ZInstanceRecord>;

/** What the runtime remembers about an app: its release, how many should run, what runs. */
export const ZAppState = z.object({
  deploymentId: z.string(),
  digest: z.string(),
  storageKey: z.string(),
  startedAt: z.string(),
  /** The app's scale; 0 keeps the release current with nothing running. */
  desired: z.number().int().min(0),
  instances: z.array(ZInstanceRecord),
  /**
   * Processes of the release outside `instances`: one its supervisor is starting (a restart, a
   * scale-up, a rolling restart) and one being replaced. Whoever finds them in the file after
   * the supervising process died (re-adoption, retirement, the next release) stops them.
   */
  others: z.array(ZInstanceRecord).optional(),
});
export type TAppState = z.infer<typeof ZAppState>;

/** The file a single-instance control plane wrote: read as instance '0', so an upgrade re-adopts it. */
const ZLegacyState = z.object({
  deploymentId: z.string(),
  pid: z.number().int().positive(),
  port: z.number().int().positive(),
  digest: z.string(),
  storageKey: z.string(),
  startedAt: z.string(),
  procStart: z.string().nullable().optional(),
  cgroups: z.array(z.string()).optional(),
});

export function parseState(json: unknown): TAppState | null {
  const current = ZAppState.safeParse(json);
  if (current.success) return current.data;
  const legacy = ZLegacyState.safeParse(json);
  if (!legacy.success) return null;
  const { pid, port, procStart, cgroups, ...release } = legacy.data;
  return { ...release, desired: 1, instances: [{ id: '0', pid, port, procStart, cgroups, startedAt: release.startedAt }] };
}

/** The app's state, or null when there is none (or the file is unreadable). */
export async function readState(layout: Layout, appName: string): Promise<TAppState | null> {
  const raw = await readFile(stateFileOf(layout, appName), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (raw === null) return null;
  try {
    return parseState(JSON.parse(raw));
  } catch {
    return null;
  }
}

/** Replaces the state file atomically (write, fsync, rename): a crash leaves old or new, never half. */
export async function writeState(layout: Layout, appName: string, state: TAppState): Promise<void> {
  await writeJsonAtomic(stateFileOf(layout, appName), state);
}

/**
 * Instances a rollout started and has not yet recorded in the state file (they are recorded at
 * its switch). A worker killed in between leaves them running with nobody to stop them: the
 * next rollout of the app reads this file and stops them first.
 */
const startingFileOf = (layout: Layout, appName: string) => path.join(layout.stateDir, `${appName}.starting`);

export async function writeStarting(layout: Layout, appName: string, instances: TInstanceRecord[]): Promise<void> {
  await writeJsonAtomic(startingFileOf(layout, appName), instances);
}

/** The instances a rollout left unrecorded; none when there is no (readable) file. */
export async function readStarting(layout: Layout, appName: string): Promise<TInstanceRecord[]> {
  const raw = await readFile(startingFileOf(layout, appName), 'utf8').catch(() => null);
  try {
    const parsed = raw === null ? null : z.array(ZInstanceRecord).safeParse(JSON.parse(raw));
    return parsed?.success ? parsed.data : [];
  } catch {
    return []; // a torn file: nothing to trust in it
  }
}

export async function clearStarting(layout: Layout, appName: string): Promise<void> {
  await rm(startingFileOf(layout, appName), { force: true });
}

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
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
