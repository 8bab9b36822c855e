import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { UploadEnv } from './settings';

/**
 * What a multipart upload needs to resume after Ctrl-C or a lost connection: the upload id and
 * the ETags of finished parts. Only valid against the same control plane, app and part size.
 */
export interface UploadState {
  digest: string;
  app: string;
  upload_id: string;
  part_size: number;
  /** Part number -> ETag as storage sent it. */
  parts: Record<string, string>;
  api_base: string;
}

export function statePath(env: UploadEnv, digest: string): string {
  const cacheHome = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cacheHome, 'aether', 'uploads', `${digest}.json`);
}

/** The saved state when it belongs to this upload; anything unreadable counts as none. */
export async function readState(file: string, match: Pick<UploadState, 'digest' | 'app' | 'api_base'>): Promise<UploadState | null> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as Partial<UploadState>;
    const valid =
      typeof s.upload_id === 'string' && Number.isSafeInteger(s.part_size) && (s.part_size ?? 0) > 0 && typeof s.parts === 'object' && s.parts !== null;
    if (!valid || s.digest !== match.digest || s.app !== match.app || s.api_base !== match.api_base) return null;
    return s as UploadState;
  } catch {
    return null;
  }
}

/**
 * Saves states one at a time (parts finish concurrently), atomically (a crash mid-write never
 * leaves half a file), 0600 in a 0700 directory: upload ids are capabilities on some stores.
 */
export function createStateStore(file: string) {
  let chain: Promise<void> = Promise.resolve();
  const write = async (state: UploadState) => {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  };
  return {
    file,
    save(state: UploadState): Promise<void> {
      const snapshot = structuredClone(state);
      // A failed save (disk full) surfaces to its caller without blocking later ones.
      chain = chain.catch(() => undefined).then(() => write(snapshot));
      return chain;
    },
    async remove(): Promise<void> {
      await chain.catch(() => undefined);
      await rm(file, { force: true });
    },
  };
}

export type StateStore = ReturnType<typeof createStateStore>;
