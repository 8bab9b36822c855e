import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Pids of an env-app's node processes (`node index.js`) whose environment carries
 * `MARKER=<marker>`: a config variable the test gives the app, so the host's own view of its
 * processes counts its instances, independent of what the runtime believes.
 */
export async function appPids(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const [cmdline, environ] = await Promise.all([
      readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => ''),
      readFile(`/proc/${name}/environ`, 'latin1').catch(() => ''),
    ]);
    const argv = cmdline.split('\0');
    if (argv[0]?.endsWith('node') && argv[1] === 'index.js' && environ.split('\0').includes(`MARKER=${marker}`)) pids.push(Number(name));
  }
  return pids.sort((a, b) => a - b);
}

/** Pids the local runtime recorded for `app` under `dataDir` (its state file), first instance first. */
export async function recordedPids(dataDir: string, app: string): Promise<number[]> {
  const file = path.join(dataDir, 'runtime', 'state', `${app}.json`);
  const raw = await readFile(file, 'utf8').catch(() => null);
  if (raw === null) return [];
  const state = JSON.parse(raw) as { pid?: number; instances?: Array<{ pid: number }> };
  return state.instances ? state.instances.map((i) => i.pid) : state.pid ? [state.pid] : [];
}

/** Whether `pid` is a live process (signal 0 reaches it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
