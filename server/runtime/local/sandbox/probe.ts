import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SandboxProbe } from './mode';

/** First `name` on PATH (or the usual system dirs), or null. */
export function findExecutable(name: string): string | null {
  const system = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...system];
  for (const dir of dirs) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

/**
 * What this host allows, measured by running bwrap once the way apps will run it: as root,
 * privileged bwrap dropping to `probeUid` inside; otherwise in a user namespace of our uid.
 */
export function probeSandbox(probeUid: number): SandboxProbe {
  const isRoot = process.getuid?.() === 0;
  const bwrap = findExecutable('bwrap');
  const setpriv = findExecutable('setpriv');
  if (!bwrap || (isRoot && !setpriv)) return { isRoot, bwrapWorks: false };
  const drop = isRoot
    ? [setpriv!, `--reuid=${probeUid}`, `--regid=${probeUid}`, '--clear-groups', '--no-new-privs', '--']
    : [];
  const userns = isRoot ? [] : ['--unshare-user', '--disable-userns'];
  const argv = [bwrap, ...userns, '--unshare-pid', '--ro-bind', '/', '/', '--proc', '/proc', '--', ...drop, 'true'];
  const env = { PATH: '/usr/bin:/bin' } as unknown as NodeJS.ProcessEnv;
  const res = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10_000, env });
  return { isRoot, bwrapWorks: res.status === 0 };
}
