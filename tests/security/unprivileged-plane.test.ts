import { spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The control plane as an unprivileged user (`nobody`): no uids to hand out, no cgroups, but
// bwrap in a user namespace still gives each app its own pid and mount namespaces.
const NOBODY = 65534;
const CANARY = 'canary-secret-0f3e9a1c7b';
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

describe.runIf(process.getuid?.() === 0)('apps of a control plane that is not root', { timeout: 60_000 }, () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aether-nonroot-'));
    await chown(work, NOBODY, NOBODY);
  });
  afterAll(async () => rm(work, { recursive: true, force: true }));

  it('still run sandboxed: they see neither the control plane\'s processes nor its data dir', async () => {
    const dataDir = path.join(work, 'data');
    const store = path.join(work, 'store');
    for (const dir of [dataDir, store]) {
      await mkdir(dir, { mode: 0o700 });
      await chown(dir, NOBODY, NOBODY);
    }
    const secretFile = path.join(dataDir, 'storage.secret');
    await writeFile(secretFile, CANARY, { mode: 0o600 });
    await chown(secretFile, NOBODY, NOBODY);
    const script = path.join(work, 'plane.mts');
    const mod = (rel: string) => JSON.stringify(new URL(rel, import.meta.url).href);
    await writeFile(
      script,
      [
        `import path from 'node:path';`,
        `import { createReadStream } from 'node:fs';`,
        `import { createLocalRuntime } from ${mod('../../server/runtime/local.driver.ts')};`,
        `import { writeArtifact } from ${mod('../support/artifacts.ts')};`,
        `import { spyApp } from ${mod('./tenant-apps.ts')};`,
        `const dataDir = ${JSON.stringify(dataDir)};`,
        `const store = ${JSON.stringify(store)};`,
        `const host = { dataDir, victimDir: path.join(dataDir, 'runtime/apps/none'), victimPid: process.ppid, controlPlanePid: process.pid };`,
        `const { file, digest } = await writeArtifact(store, spyApp('spy', host));`,
        `const warnings = [];`,
        `const driver = createLocalRuntime({ dataDir, source: async (k) => createReadStream(path.join(store, k)), warn: (m) => warnings.push(m) });`,
        `const d = { appName: 'spy', deploymentId: 'dep-1', digest, storageKey: path.basename(file), configVersionId: '00000000-0000-4000-8000-000000000001', env: {}, settings: { startCommand: null, healthPath: '/', healthTimeoutMs: 30000 } };`,
        `const phases = [];`,
        `const { url } = await driver.rollout(d, async (p) => { phases.push(p.message); });`,
        `const answer = await (await fetch(url)).text();`,
        `const lines = [];`,
        `for await (const e of driver.logs(d, { tail: 10000, follow: false })) lines.push(e.line);`,
        `await driver.stop('spy');`,
        `console.log(JSON.stringify({ uid: process.getuid(), pid: process.pid, warnings, phases, answer, lines }));`,
      ].join('\n'),
    );
    await chown(script, NOBODY, NOBODY);
    const out = await new Promise<string>((resolve, reject) => {
      const cp = spawn(process.execPath, ['--import', 'tsx', script], {
        cwd: repoRoot,
        uid: NOBODY,
        gid: NOBODY,
        // Secrets in the control plane's environment, as in the issue.
        env: { PATH: process.env.PATH, HOME: work, AETHER_API_TOKENS: `${CANARY}:admin`, DATABASE_URL: `postgres://u:${CANARY}@db/x` } as unknown as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      cp.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      cp.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      cp.on('error', reject);
      cp.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`control plane exited ${code}: ${stderr}`))));
    });
    const res = JSON.parse(out.trim().split('\n').pop()!) as { uid: number; pid: number; warnings: string[]; phases: string[]; answer: string; lines: string[] };
    expect(res.uid).toBe(NOBODY);
    expect(res.answer).toBe('spy');
    expect(res.warnings).toContain(
      'runtime: the control plane is not root: apps run sandboxed (bwrap) but as its own uid, without per-app uids or cgroup limits',
    );
    expect(res.phases.find((m) => m.startsWith('npm start'))).toMatch(/^npm start \(node index\.js\) as pid \d+ \(sandbox: bwrap\) with PORT=\d+$/);
    const r = JSON.parse(res.lines.find((l) => l.startsWith('REPORT '))!.slice('REPORT '.length));
    expect(r).toMatchObject({ uid: NOBODY, home: '/tmp', cwd: '/app' });
    // Its own pid namespace: only its processes, all of its (shared) uid; the control plane is not there.
    expect(Math.max(...r.pids)).toBeLessThan(20);
    expect(r.pids).not.toContain(res.pid);
    for (const proc of Object.values(r.procs)) expect(proc).toEqual({ uid: NOBODY, environ: 'read' });
    expect(r.signals).toMatchObject({ 'control plane': 'ESRCH', victim: 'ESRCH' });
    expect(r.reads[path.join(dataDir, 'storage.secret')]).toBe('ENOENT');
    expect(r.lists[dataDir]).toBe('ENOENT');
    expect(r.writes).toMatchObject({ '/usr/pwned': 'EROFS', '/tmp/scratch': 'ok', '/app/scratch': 'ok' });
    expect(res.lines.join('\n')).not.toContain(CANARY);
  });
});
