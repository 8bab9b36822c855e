import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFetchArtifact } from '../../docker/runtime/build-fetch-artifact.mjs';
import { fetchToken, fetchTokenKey } from '../../server/runtime/kubernetes/fetch-token';
import { sha256, tarGz } from '../support/artifacts';
import { startFakeKube, type FakeKube, type PodBehaviour } from '../support/fake-kube/index';
import { startTestPlane, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

// A control plane with AETHER_RUNTIME=kubernetes against the fake API server: the deploy flow
// end to end, then the artifact fetch a pod would do, by the real fetch program, with the env
// and the token the driver put into the cluster.

const NS = 'team-apps';
const SECRET = 'plane-fetch-secret-0123456789abcdef';
let dir: string;
let fake: FakeKube;
let plane: TestPlane;
let bundle: string;

const app = (text: string) => ({
  'package.json': JSON.stringify({ name: 'web', scripts: { start: 'node index.js' } }),
  'index.js': `require('http').createServer((q, s) => s.end(${JSON.stringify(text)})).listen(process.env.PORT);`,
});

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aether-k8s-plane-'));
  fake = await startFakeKube(dir, { secondMs: 100 });
  bundle = await buildFetchArtifact(path.join(dir, 'bin', 'fetch-artifact.mjs'));
  plane = await startTestPlane('pglite', {
    AETHER_RUNTIME: 'kubernetes',
    KUBECONFIG: fake.kubeconfigPath,
    AETHER_RUNTIME_FETCH_SECRET: SECRET,
    AETHER_NAMESPACE: NS,
    AETHER_RUNTIME_PROGRESS_DEADLINE_SECS: '5',
  });
  plane.startWorkers();
  await plane.caller('deployer').apps.create({ name: 'web' });
});

afterAll(async () => {
  await plane?.close();
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});

async function deploy(text: string, behaviour?: PodBehaviour) {
  const bytes = tarGz(app(text));
  const { digest } = await uploadArtifact(plane, 'web', bytes);
  if (behaviour) fake.behave(`sha256:${digest}`, behaviour);
  await plane.caller('reader').artifacts.wait({ app_name: 'web', digest, timeout_ms: 15_000 });
  const { deployment } = await plane.caller('deployer').deployments.create({ app_name: 'web', digest });
  return { id: deployment.id, bytes };
}

/** Runs the init container's program with the env its pod spec gives it (the token from the Secret). */
async function runInitContainer(appDir: string): Promise<{ code: number | null; output: string }> {
  const dep = fake.store.get('deployments', NS, 'web');
  const init = dep?.spec.template.spec.initContainers[0];
  const env: Record<string, string> = {};
  for (const e of init.env as Array<{ name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }>) {
    if (e.value !== undefined) env[e.name] = e.value;
    else {
      const secret = fake.store.get('secrets', NS, e.valueFrom!.secretKeyRef.name);
      env[e.name] = Buffer.from(secret!.data![e.valueFrom!.secretKeyRef.key]!, 'base64').toString();
    }
  }
  await mkdir(path.dirname(appDir), { recursive: true });
  const child = spawn(process.execPath, [bundle], {
    env: { ...env, NODE_ENV: 'production', AETHER_APP_DIR: appDir, AETHER_TERMINATION_LOG: path.join(dir, 'termination-log') },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, output };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('control plane on the kubernetes runtime', () => {
  let first: { id: string; bytes: Buffer };

  it('deploys to running with every phase, the Service URL as its address', async () => {
    first = await deploy('v1');
    const running = await plane.caller('reader').deployments.wait({ id: first.id, timeout_ms: 30_000 });
    expect(running).toMatchObject({ status: 'running', url: `http://web.${NS}.svc.cluster.local:80` });
    const events = await plane.caller('reader').deployments.events({ id: first.id });
    expect(events.map((e) => e.phase)).toEqual(['created', 'rolling_out', 'fetch', 'verify', 'unpack', 'start', 'health', 'switch', 'running']);
    expect(fake.store.get('deployments', NS, 'web')?.metadata.labels?.deployment_id).toBe(first.id);
    // The release's config version, as its immutable Secret, read by the app container.
    const [config] = fake.store.list('secrets', NS, (l) => l.app_name === 'web' && Boolean(l.config_version_id));
    expect(config?.immutable).toBe(true);
    const app = fake.store.get('deployments', NS, 'web')?.spec.template.spec.containers[0];
    expect(app.envFrom).toEqual([{ secretRef: { name: config?.metadata.name } }]);
  });

  it('serves the artifact to the init container with its token only, and the real fetch program unpacks it', async () => {
    const url = `${plane.url}/runtime/artifacts/${first.id}`;
    const token = fetchToken(fetchTokenKey(SECRET), first.id);
    expect((await fetch(url)).status).toBe(401);
    const wrong = await fetch(url, { headers: { authorization: `Bearer ${fetchToken(fetchTokenKey(SECRET), '00000000-0000-4000-8000-000000000000')}` } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ code: 'unauthorized', message: 'invalid fetch token' });
    const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(sha256(Buffer.from(await ok.arrayBuffer()))).toBe(sha256(first.bytes));

    const appDir = path.join(dir, 'pod', 'app', 'release');
    const run = await runInitContainer(appDir);
    expect(run.code).toBe(0);
    expect(await readFile(path.join(appDir, 'index.js'), 'utf8')).toContain('"v1"');
    expect(run.output).not.toContain(token);
  });

  it('a crashing release ends failed with its output, and the cluster goes back to the previous template', async () => {
    const next = await deploy('v2', { kind: 'crash', logs: ['Error: cannot find module ./config'] });
    const failed = await plane.caller('reader').deployments.wait({ id: next.id, timeout_ms: 30_000 });
    expect(failed).toMatchObject({ status: 'failed', failure_reason: 'crashed_on_start' });
    const events = await plane.caller('reader').deployments.events({ id: next.id });
    expect(events.at(-1)?.message).toContain('cannot find module ./config');
    expect(fake.store.get('deployments', NS, 'web')?.spec.template.metadata.labels.deployment_id).toBe(first.id);
    expect(await plane.caller('reader').deployments.get({ id: first.id })).toMatchObject({ status: 'running' });
  });

  it('scale, stop, start and restart reach the Deployment: replicas, the budget, the restart stamp, and the health the pods show', async () => {
    const dep = () => fake.store.get('deployments', NS, 'web');
    const pdb = () => fake.store.get('poddisruptionbudgets', NS, 'web');
    const ready = () => fake.store.list('pods', NS, (l) => l.app_name === 'web').filter((p) => fake.controller.sims.get(`${NS}/${p.metadata.name}`)?.stage === 'ready');
    const deployer = plane.caller('deployer');
    const app = () => plane.caller('reader').apps.get({ app_name: 'web' });

    expect(await deployer.apps.scale({ app_name: 'web', instances: 3 })).toMatchObject({ instances: 3 });
    await until(async () => dep()?.spec.replicas === 3 && ready().length === 3 && (await app()).health === 'healthy');
    expect(pdb()?.spec.maxUnavailable).toBe(1);

    await deployer.apps.stop({ app_name: 'web' });
    await until(() => dep()?.spec.replicas === 0 && pdb() === undefined && ready().length === 0);
    expect(await app()).toMatchObject({ instances: 0, health: 'stopped' });

    await deployer.apps.start({ app_name: 'web' });
    await until(async () => dep()?.spec.replicas === 3 && ready().length === 3 && pdb() !== undefined && (await app()).health === 'healthy');

    const before = new Set(ready().map((p) => p.metadata.name));
    await deployer.apps.restart({ app_name: 'web' });
    await until(() => Boolean(dep()?.spec.template.metadata.annotations?.['aether.dev/restarted-at']) && ready().length === 3 && ready().every((p) => !before.has(p.metadata.name)));
    expect(dep()?.spec.template.metadata.labels.deployment_id).toBe(first.id);
  });
});

describe('control plane on the kubernetes runtime with AETHER_APP_DOMAIN', () => {
  const ns = 'domain-apps';
  let domained: TestPlane;

  beforeAll(async () => {
    domained = await startTestPlane('pglite', {
      AETHER_RUNTIME: 'kubernetes',
      KUBECONFIG: fake.kubeconfigPath,
      AETHER_RUNTIME_FETCH_SECRET: SECRET,
      AETHER_NAMESPACE: ns,
      AETHER_RUNTIME_PROGRESS_DEADLINE_SECS: '5',
      AETHER_APP_DOMAIN: 'apps.corp.example',
      AETHER_INGRESS_CLASS: 'nginx',
      AETHER_INGRESS_TLS_SECRET: 'apps-wildcard',
    });
    domained.startWorkers();
    await domained.caller('deployer').apps.create({ name: 'shop' });
  });
  afterAll(async () => {
    await domained?.close();
  });

  it("gives the app an Ingress and its https address as the deployment's and the app's URL", async () => {
    const { digest } = await uploadArtifact(domained, 'shop', tarGz(app('shop')));
    await domained.caller('reader').artifacts.wait({ app_name: 'shop', digest, timeout_ms: 15_000 });
    const { deployment } = await domained.caller('deployer').deployments.create({ app_name: 'shop', digest });
    const running = await domained.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    expect(running).toMatchObject({ status: 'running', url: 'https://shop.apps.corp.example' });
    expect(await domained.caller('reader').apps.get({ app_name: 'shop' })).toMatchObject({ url: 'https://shop.apps.corp.example' });
    const ing = fake.store.get('ingresses', ns, 'shop');
    expect(ing?.spec).toMatchObject({
      ingressClassName: 'nginx',
      tls: [{ hosts: ['shop.apps.corp.example'], secretName: 'apps-wildcard' }],
      rules: [{ host: 'shop.apps.corp.example' }],
    });
  });
});
