import { sha256, tarGz } from '../support/artifacts';
import { pollUntil } from '../support/poll';
import type { FaultPlane } from './fault-plane';

/** An app's release through the REST face, as the CLI drives it; `api` may be a recorder's. */
type Api = FaultPlane['api'];

/**
 * A real app whose health path answers 503 until `slowMs` after its start, then 200: its
 * rollout sits in the `health` phase that long, a window in which a fault can strike.
 * `MARKER` (its config) tells its processes apart on the host. `tag` makes another digest.
 */
export function slowHealthApp(slowMs: number, tag = ''): Buffer {
  const index = `const http = require('node:http');
const readyAt = Date.now() + ${slowMs};
http.createServer((req, res) => {
  res.statusCode = Date.now() < readyAt ? 503 : 200;
  res.end(process.env.MARKER + ' ${tag}\\n');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;
  return tarGz({ 'package.json': '{"name":"slow-health","scripts":{"start":"node index.js"}}', 'index.js': index });
}

async function ok<T>(res: Promise<Response>, what: string): Promise<T> {
  const r = await res;
  if (!r.ok) throw new Error(`${what}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** Creates `name` (as admin) with `MARKER=<marker>` staged in its config. */
export async function createApp(fp: FaultPlane, name: string, marker: string): Promise<void> {
  await ok(
    setupCall(() => fp.api('POST', '/apps', { name }, 'admin')),
    `create ${name}`,
  );
  await ok(
    setupCall(() => fp.api('PATCH', `/apps/${name}/config`, { set: { MARKER: marker }, deploy: false })),
    `config ${name}`,
  );
}

/** Setup, before any fault: a 503 of a plane still warming up on a loaded host is retried, as the CLI would. */
async function setupCall(call: () => Promise<Response>): Promise<Response> {
  for (let i = 0; ; i++) {
    const res = await call();
    if (res.status !== 503 || i === 10) return res;
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface Staged {
  digest: string;
  sizeBytes: number;
}

/** Presign and PUT: the bytes are in the store, the complete is left to the caller. */
export async function stage(api: Api, app: string, bytes: Buffer): Promise<Staged> {
  const digest = sha256(bytes);
  const presigned = await ok<{ upload_url: string; headers: Record<string, string> }>(
    api('POST', '/artifacts/presign', { app_name: app, digest, size_bytes: bytes.length }),
    'presign',
  );
  const put = await fetch(presigned.upload_url, {
    method: 'PUT',
    headers: presigned.headers,
    body: new Uint8Array(bytes),
  });
  if (!put.ok) throw new Error(`PUT: ${put.status} ${await put.text()}`);
  return { digest, sizeBytes: bytes.length };
}

export function complete(api: Api, app: string, s: Staged): Promise<Response> {
  return api('POST', '/artifacts/complete', { app_name: app, digest: s.digest, size_bytes: s.sizeBytes });
}

export interface ArtifactView {
  artifact_id: string;
  status: string;
  failure_reason: string | null;
}

export function getArtifact(fp: FaultPlane, app: string, digest: string): Promise<ArtifactView> {
  return ok(fp.api('GET', `/apps/${app}/artifacts/${digest}`, undefined, 'reader'), 'get artifact');
}

/** Polls until the artifact leaves pending/verifying or `timeoutMs` passes; its last view. */
export function artifactSettled(
  fp: FaultPlane,
  app: string,
  digest: string,
  timeoutMs = 30_000,
): Promise<ArtifactView> {
  return pollUntil(
    () => getArtifact(fp, app, digest),
    (a) => a.status !== 'pending' && a.status !== 'verifying',
    timeoutMs,
  );
}

/** Stage, complete and wait for verification: a stored artifact's digest. */
export async function storeArtifact(fp: FaultPlane, app: string, bytes: Buffer): Promise<string> {
  const s = await stage(fp.api, app, bytes);
  await ok(complete(fp.api, app, s), 'complete');
  const a = await artifactSettled(fp, app, s.digest);
  if (a.status !== 'stored') throw new Error(`artifact ${s.digest} is ${a.status}`);
  return s.digest;
}

export interface DeploymentView {
  id: string;
  status: string;
  failure_reason: string | null;
  url: string | null;
}

/** `POST /deployments` (the seed's face): the new deployment's id. */
export async function deploy(fp: FaultPlane, app: string, digest: string): Promise<string> {
  return (await ok<{ id: string }>(fp.api('POST', '/deployments', { app_name: app, digest }), 'deploy')).id;
}

export function getDeployment(fp: FaultPlane, id: string): Promise<DeploymentView> {
  return ok(fp.api('GET', `/deployments/${id}`, undefined, 'reader'), 'get deployment');
}

/** Polls until the deployment is no longer pending or rolling out, or `timeoutMs` passes. */
export function deploymentSettled(fp: FaultPlane, id: string, timeoutMs = 60_000): Promise<DeploymentView> {
  return pollUntil(
    () => getDeployment(fp, id),
    (d) => d.status !== 'pending' && d.status !== 'rolling_out',
    timeoutMs,
  );
}

/** The deployment's rollout phases so far, oldest first (`created`, `rolling_out`, `fetch`...). */
export async function phasesOf(fp: FaultPlane, id: string): Promise<Array<{ phase: string; message: string }>> {
  const events = await ok<Array<{ phase: string; message: string }>>(
    fp.api('GET', `/deployments/${id}/events`, undefined, 'reader'),
    'events',
  );
  return events.map(({ phase, message }) => ({ phase, message }));
}

/** Waits until the rollout has started its instances: it is now in the health phase. */
export async function untilHealthPhase(fp: FaultPlane, id: string, timeoutMs = 30_000): Promise<void> {
  const phases = await pollUntil(
    () => phasesOf(fp, id),
    (p) => p.some((e) => e.phase === 'start'),
    timeoutMs,
  );
  if (!phases.some((e) => e.phase === 'start')) throw new Error(`no start phase: ${JSON.stringify(phases)}`);
}
