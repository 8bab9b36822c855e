import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchArgv, type LaunchSpec } from '../../server/runtime/local/sandbox/launch';
import { findExecutable } from '../../server/runtime/local/sandbox/probe';

// As root, as on these machines and in CI: privileged bwrap dropping to an app uid.
const runningAsRoot = process.getuid?.() === 0;
const tools = {
  bash: findExecutable('bash'),
  bwrap: findExecutable('bwrap'),
  setpriv: findExecutable('setpriv'),
  prlimit: findExecutable('prlimit'),
};
const APP_UID = 99_990;

/**
 * Runs `command` the way the runtime launches an app, from a parent that holds fds 7 and 200
 * without close-on-exec (as npm, a supervisor or a CI runner may hand the control plane), and
 * returns what the command printed.
 */
async function launchFromLeakyParent(spec: LaunchSpec): Promise<string> {
  const { argv, env, bwrapOptions } = launchArgv(spec);
  const leaky = ['-c', 'exec 7</dev/null 200</dev/null; exec "$@"', 'leaky-parent', ...argv];
  const stdio: StdioOptions = ['ignore', 'pipe', 'inherit', ...(bwrapOptions ? ['pipe' as const] : [])];
  const child: ChildProcess = spawn(tools.bash!, leaky, { stdio, env: env as NodeJS.ProcessEnv });
  if (bwrapOptions) (child.stdio[3] as Writable).end(bwrapOptions);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  await new Promise((resolve) => child.once('close', resolve));
  return out.trim();
}

const hasTools = Object.values(tools).every((t) => t !== null);

describe.runIf(runningAsRoot && hasTools)('fds the control plane inherited', () => {
  let appDir: string;
  beforeAll(async () => {
    appDir = await mkdtemp(path.join(tmpdir(), 'aether-fds-'));
    await chown(appDir, APP_UID, APP_UID);
  });
  afterAll(async () => rm(appDir, { recursive: true, force: true }));

  const spec = (mode: 'bwrap-uid' | 'uid'): LaunchSpec => ({
    mode,
    ...tools,
    uid: APP_UID,
    appDir,
    cgroupProcs: [],
    nofile: 1024,
    fsizeBytes: 1024 ** 2,
    nproc: 64,
    tmpBytes: 1024 ** 2,
    env: { PATH: '/usr/bin:/bin' },
    // The shell's own fds, as the app's first process holds them: stdio, and 3, the glob's listing.
    command: ['/bin/sh', '-c', 'cd /proc/$$/fd && echo *'],
  });

  it('never reach an app in bwrap', async () => {
    expect(await launchFromLeakyParent(spec('bwrap-uid'))).toBe('0 1 2 3');
  });

  it('never reach an app run as its uid only', async () => {
    expect(await launchFromLeakyParent(spec('uid'))).toBe('0 1 2 3');
  });
});
