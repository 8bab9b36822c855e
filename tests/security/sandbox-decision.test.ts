import { createReadStream } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalRuntime } from '../../server/runtime/local.driver';
import { decideSandbox } from '../../server/runtime/local/sandbox/mode';
import { RolloutError, type RuntimeDeployment } from '../../server/runtime/port';
import { tarGz, writeArtifact } from '../support/artifacts';
import { runtimeDeployment } from '../support/runtime-deployment';

const dev = { production: false, unsafeSharedUser: false };
const prod = { production: true, unsafeSharedUser: false };
const prodUnsafe = { production: true, unsafeSharedUser: true };

describe('which sandbox the local runtime picks', () => {
  it('gives apps their own uid and bwrap when root with a working bwrap, and says nothing', () => {
    expect(decideSandbox({ isRoot: true, bwrapWorks: true }, prod)).toEqual({ mode: 'bwrap-uid', warning: null, refusal: null });
  });

  it('falls back to own uid without namespaces as root without bwrap, and warns', () => {
    const d = decideSandbox({ isRoot: true, bwrapWorks: false }, prod);
    expect(d).toMatchObject({ mode: 'uid', refusal: null });
    expect(d.warning).toMatch(/^bubblewrap \(bwrap\) is missing/);
  });

  it('uses bwrap in a user namespace of its own uid when not root, and warns', () => {
    const d = decideSandbox({ isRoot: false, bwrapWorks: true }, prod);
    expect(d).toMatchObject({ mode: 'bwrap', refusal: null });
    expect(d.warning).toMatch(/^the control plane is not root/);
  });

  it('with no sandbox possible: runs apps with a loud warning outside production', () => {
    const d = decideSandbox({ isRoot: false, bwrapWorks: false }, dev);
    expect(d.mode).toBe('none');
    expect(d.refusal).toBeNull();
    expect(d.warning).toMatch(/^NO APP SANDBOX: /);
  });

  it('with no sandbox possible: refuses to run apps in production', () => {
    const d = decideSandbox({ isRoot: false, bwrapWorks: false }, prod);
    expect(d.mode).toBe('none');
    expect(d.refusal).toBe('no sandbox is available on this host and NODE_ENV=production: apps are not run (AETHER_UNSAFE_SHARED_USER=true overrides)');
    expect(d.warning).toMatch(/Refusing to run apps \(NODE_ENV=production\); set AETHER_UNSAFE_SHARED_USER=true/);
  });

  it('with no sandbox possible: runs apps in production only with AETHER_UNSAFE_SHARED_USER=true', () => {
    const d = decideSandbox({ isRoot: false, bwrapWorks: false }, prodUnsafe);
    expect(d).toMatchObject({ mode: 'none', refusal: null });
    expect(d.warning).toMatch(/^NO APP SANDBOX: /);
  });
});

describe('a local runtime on a host with no sandbox', { timeout: 30_000 }, () => {
  const noSandbox = () => ({ isRoot: false, bwrapWorks: false });
  let work: string;
  let d: RuntimeDeployment;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aether-nosandbox-'));
    const bytes = tarGz({
      'package.json': JSON.stringify({ name: 'plain', version: '1.0.0', scripts: { start: 'node index.js' } }),
      'index.js': `require('http').createServer((q, s) => s.end('plain')).listen(process.env.PORT, '127.0.0.1');`,
    });
    const { file, digest } = await writeArtifact(path.join(work, 'store'), bytes);
    d = runtimeDeployment({ appName: 'plain', deploymentId: 'dep-1', digest, storageKey: path.basename(file) });
  });
  afterAll(async () => rm(work, { recursive: true, force: true }));

  const driverWith = (sandbox: { production: boolean; unsafeSharedUser: boolean }, warnings: string[]) =>
    createLocalRuntime({
      dataDir: path.join(work, `data-${sandbox.production}-${sandbox.unsafeSharedUser}`),
      source: async (key) => createReadStream(path.join(work, 'store', key)),
      sandbox,
      sandboxProbe: noSandbox,
      warn: (msg) => warnings.push(msg),
    });

  it('in production: warns at creation, and every rollout fails with sandbox_unavailable before fetching', async () => {
    const warnings: string[] = [];
    const driver = driverWith({ production: true, unsafeSharedUser: false }, warnings);
    const phases: string[] = [];
    const err = await driver.rollout(d, async (p) => void phases.push(p.phase)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutError);
    expect(err).toMatchObject({
      reason: 'sandbox_unavailable',
      message: 'no sandbox is available on this host and NODE_ENV=production: apps are not run (AETHER_UNSAFE_SHARED_USER=true overrides)',
    });
    expect(phases).toEqual([]);
    expect(warnings.filter((w) => w.includes('SANDBOX'))).toEqual([expect.stringMatching(/^runtime: NO APP SANDBOX: .*Refusing to run apps \(NODE_ENV=production\)/)]);
  });

  it('in production with AETHER_UNSAFE_SHARED_USER=true: warns, and runs the app unsandboxed', async () => {
    const warnings: string[] = [];
    const driver = driverWith({ production: true, unsafeSharedUser: true }, warnings);
    const phases: string[] = [];
    const { url } = await driver.rollout(d, async (p) => void phases.push(p.message));
    try {
      expect(await (await fetch(url)).text()).toBe('plain');
      expect(phases.find((m) => m.startsWith('npm start'))).toMatch(/\(sandbox: none\)/);
      expect(warnings.filter((w) => w.includes('SANDBOX'))).toEqual([expect.stringMatching(/^runtime: NO APP SANDBOX: not root and no working bubblewrap/)]);
    } finally {
      await driver.stop('plain');
    }
  });
});

describe.runIf(process.getuid?.() === 0)('a root control plane without a usable bwrap', { timeout: 30_000 }, () => {
  it('still runs each app as its own uid, at home in its own dir, and warns that it has no namespaces', async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'aether-uidonly-'));
    // Without bwrap to bind it, the app reaches its dir by path: the data dir's parent must let it pass.
    await chmod(work, 0o711);
    const warnings: string[] = [];
    const bytes = tarGz({
      'package.json': JSON.stringify({ name: 'plain', version: '1.0.0', scripts: { start: 'node index.js' } }),
      'index.js': `require('http').createServer((q, s) => s.end(JSON.stringify({ uid: process.getuid(), home: process.env.HOME }))).listen(process.env.PORT, '127.0.0.1');`,
    });
    const { file, digest } = await writeArtifact(path.join(work, 'store'), bytes);
    const dataDir = path.join(work, 'data');
    const driver = createLocalRuntime({
      dataDir,
      source: async (key) => createReadStream(path.join(work, 'store', key)),
      sandbox: { uidRange: { low: 150_000, high: 150_009 } },
      sandboxProbe: () => ({ isRoot: true, bwrapWorks: false }),
      warn: (msg) => warnings.push(msg),
    });
    try {
      const { url } = await driver.rollout(runtimeDeployment({ appName: 'plain', deploymentId: 'dep-1', digest, storageKey: path.basename(file) }), async () => {});
      expect(JSON.parse(await (await fetch(url)).text())).toEqual({ uid: 150_000, home: path.join(dataDir, 'runtime/apps/plain/dep-1') });
      expect(warnings).toContainEqual(expect.stringMatching(/^runtime: bubblewrap \(bwrap\) is missing or cannot create namespaces/));
    } finally {
      await driver.stop('plain');
      await rm(work, { recursive: true, force: true });
    }
  });
});
