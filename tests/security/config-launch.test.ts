import { spawn, type StdioOptions } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_FD, envScript, launchArgv, type LaunchSpec } from '../../server/runtime/local/sandbox/launch';
import type { SandboxMode } from '../../server/runtime/local/sandbox/mode';
import { findExecutable } from '../../server/runtime/local/sandbox/probe';

// How the local sandbox carries an app's config: on a pipe read once the app runs as itself,
// never on an argv, in bwrap's options or in the environment of a wrapper that runs as root.

const CANARY = `canary-${process.pid}-launch`;
const tools = {
  bash: findExecutable('bash'),
  bwrap: findExecutable('bwrap'),
  setpriv: findExecutable('setpriv'),
  prlimit: findExecutable('prlimit'),
};
const APP_UID = 99_991;
const platform = { PATH: '/usr/bin:/bin', HOME: '/tmp', PORT: '4000', NODE_ENV: 'production' };
const appEnv = { ...platform, NODE_ENV: 'staging', API_SECRET: CANARY, LD_PRELOAD: '/app/evil.so' };

const spec = (mode: SandboxMode, appDir = '/nonexistent'): LaunchSpec => ({
  mode,
  ...tools,
  uid: mode === 'bwrap-uid' || mode === 'uid' ? APP_UID : null,
  appDir,
  cgroupProcs: [],
  nofile: 1024,
  fsizeBytes: 1024 ** 2,
  nproc: 64,
  tmpBytes: 1024 ** 2,
  env: platform,
  appEnv,
  command: ['/bin/sh', '-c', 'echo "$API_SECRET $NODE_ENV $LD_PRELOAD"; cd /proc/$$/fd && echo *'],
});

describe('the launch of an app with config', () => {
  it.each(['bwrap-uid', 'uid', 'bwrap'] as const)('%s: config only on the env pipe, read after the uid drop', (mode) => {
    const launch = launchArgv(spec(mode));
    expect(launch.argv.join('\0')).not.toContain(CANARY);
    expect(JSON.stringify(launch.env)).not.toContain(CANARY);
    expect(launch.env).not.toHaveProperty('LD_PRELOAD');
    expect(String(launch.bwrapOptions ?? '')).not.toContain(CANARY);
    expect(String(launch.envInput)).toContain(CANARY);
    // The loader runs after setpriv (when there is one), as the app.
    const loader = launch.argv.indexOf('aether-env');
    expect(loader).toBeGreaterThan(0);
    expect(launch.argv.slice(0, loader).join(' ')).toContain(`<&${ENV_FD}`);
    const setpriv = launch.argv.findIndex((a) => a === tools.setpriv);
    if (mode !== 'bwrap') expect(setpriv).toBeLessThan(loader - 3);
  });

  it('none: the app is the control plane user, its environment is the config itself', () => {
    const launch = launchArgv(spec('none'));
    expect(launch).toMatchObject({ argv: spec('none').command, env: appEnv, envInput: null, bwrapOptions: null });
  });

  it('without config: no pipe and no loader, the launch of before', () => {
    const launch = launchArgv({ ...spec('bwrap-uid'), appEnv: null });
    expect(launch.envInput).toBeNull();
    expect(launch.argv).not.toContain('aether-env');
  });

  it('quotes every value for the shell and refuses a name that is not POSIX', () => {
    expect(String(envScript({ A: "it's", B: '$(id)\n`x`' }))).toBe("command export A='it'\\''s'\ncommand export B='$(id)\n`x`'\n");
    expect(() => envScript({ 'BAD-NAME': 'x' })).toThrow('not a POSIX environment variable name: "BAD-NAME"');
    expect(() => envScript({ NUL: 'a\0b' })).toThrow('environment variable NUL holds a NUL byte');
  });
});

describe.runIf(process.getuid?.() === 0 && Object.values(tools).every(Boolean))('an app launched with config, as root', () => {
  let appDir: string;
  beforeAll(async () => {
    appDir = await mkdtemp(path.join(tmpdir(), 'aether-cfg-launch-'));
    await chown(appDir, APP_UID, APP_UID);
  });
  afterAll(async () => rm(appDir, { recursive: true, force: true }));

  it.each(['bwrap-uid', 'uid'] as const)('%s: sees its config, and no fd of the pipe it came through', async (mode) => {
    const launch = launchArgv(spec(mode, appDir));
    const inputs = [launch.bwrapOptions, launch.seccomp, launch.envInput];
    const stdio: StdioOptions = ['ignore', 'pipe', 'inherit', ...inputs.map((b) => (b ? ('pipe' as const) : ('ignore' as const)))];
    const child = spawn(launch.argv[0]!, launch.argv.slice(1), { stdio, env: launch.env as NodeJS.ProcessEnv });
    inputs.forEach((b, i) => b && (child.stdio[3 + i] as Writable).end(b));
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    await new Promise((resolve) => child.once('close', resolve));
    // fd 3: the glob's own listing of /proc/$$/fd.
    expect(out.trim().split('\n')).toEqual([`${CANARY} staging /app/evil.so`, '0 1 2 3']);
  });
});
