import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalRuntime } from '../../server/runtime/local.driver';
import type { RuntimeDriver } from '../../server/runtime/port';
import { findExecutable } from '../../server/runtime/local/sandbox/probe';
import { seccompFilter } from '../../server/runtime/local/sandbox/seccomp';
import { tarGz, writeArtifact } from '../support/artifacts';
import { pollUntil } from '../support/poll';
import { runtimeDeployment } from '../support/runtime-deployment';

// A real app under the real sandbox, as root (as on these machines and in CI): privileged bwrap
// makes no user namespace, so only its seccomp filter keeps the app from making its own.
const runningAsRoot = process.getuid?.() === 0;
const canRun = runningAsRoot && findExecutable('bwrap') && findExecutable('unshare') && seccompFilter() !== null;

/** Tries a user namespace (with a network one), then what an app does every day, and reports. */
const APP = String.raw`
const { spawnSync } = require('child_process');
const { Worker } = require('worker_threads');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return [r.status, (r.stdout + r.stderr).trim()];
};
const r = {
  userns: run('unshare', ['--user', '--map-root-user', 'id', '-u']),
  netns: run('unshare', ['--user', '--map-root-user', '--net', 'true']),
  child: run('sh', ['-c', 'echo child ok']),
};
new Worker('require("worker_threads").parentPort.postMessage("thread ok")', { eval: true }).once('message', (m) => {
  r.thread = m;
  console.log('REPORT ' + JSON.stringify(r));
  require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, '127.0.0.1');
});
`;

describe.runIf(canRun)("an app's own user namespaces", { timeout: 60_000 }, () => {
  let work: string;
  let driver: RuntimeDriver;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aether-seccomp-'));
    const source = async (key: string) => createReadStream(path.join(work, 'store', key));
    driver = createLocalRuntime({ dataDir: path.join(work, 'data'), source, healthTimeoutMs: 20_000 });
  });
  afterAll(async () => {
    await driver.stop('nester').catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  });

  it('are refused, while its processes and threads run as ever', async () => {
    const pkg = { name: 'nester', version: '1.0.0', scripts: { start: 'node index.js' } };
    const bytes = tarGz({ 'package.json': JSON.stringify(pkg), 'index.js': APP });
    const { file, digest } = await writeArtifact(path.join(work, 'store'), bytes);
    const target = { appName: 'nester', deploymentId: 'nester-1' };
    await driver.rollout(runtimeDeployment({ ...target, digest, storageKey: path.basename(file) }), async () => {});
    const report = async () => {
      for await (const e of driver.logs(target, { tail: 100, follow: false })) {
        if (e.line.startsWith('REPORT ')) return JSON.parse(e.line.slice('REPORT '.length)) as Record<string, unknown>;
      }
      return null;
    };
    expect(await pollUntil(report, (r) => r !== null, 10_000)).toEqual({
      userns: [1, 'unshare: unshare failed: Operation not permitted'],
      netns: [1, 'unshare: unshare failed: Operation not permitted'],
      child: [0, 'child ok'],
      thread: 'thread ok',
    });
  });
});
