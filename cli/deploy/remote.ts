import { call, serverCode, type Api } from '../client';
import { CliError, EXIT } from '../errors';
import type { Output } from '../output';
import type { UploadEnv } from '../upload/index';
import type { Packed } from './artifact';

export async function ensureApp(api: Api, app: string, out: Output): Promise<void> {
  try {
    await api.apps.get.query({ app_name: app });
  } catch (err) {
    if (serverCode(err) !== 'not_found') throw err;
    await call('creating app', () => api.apps.create.mutate({ name: app }));
    out.info(`created app ${app}`);
  }
}

/**
 * Upload (skipped when the server has the digest; single PUT or parallel resumable multipart
 * by size) and complete. Verification is waited for by createDeployment.
 */
export async function upload(
  api: Api,
  conn: { apiBase: string },
  app: string,
  packed: Packed,
  out: Output,
  opts: { signature?: string; env: UploadEnv; format: 'text' | 'json'; traceId: string; signal?: AbortSignal },
): Promise<void> {
  const { uploadArtifact } = await import('../upload/index');
  await uploadArtifact({
    api,
    apiBase: conn.apiBase,
    app,
    file: packed.artifact,
    digest: packed.digest,
    sizeBytes: packed.sizeBytes,
    signature: opts.signature,
    env: opts.env,
    out,
    format: opts.format,
    traceId: opts.traceId,
    signal: opts.signal,
  });
}

type Artifact = Awaited<ReturnType<Api['artifacts']['wait']['query']>>;

/** Long-polls the artifact until verification settles (the first call answers at once if it has). */
async function waitStored(api: Api, ref: { app_name: string; digest: string }, out: Output): Promise<Artifact> {
  const deadline = Date.now() + 5 * 60_000;
  let said = false;
  for (;;) {
    const artifact = await call('waiting for verification', () => api.artifacts.wait.query({ ...ref, timeout_ms: 20_000 }));
    if (artifact.status === 'stored') return artifact;
    if (artifact.status === 'failed') throw new CliError(EXIT.runtime, `artifact verification failed: ${artifact.failure_reason ?? 'unknown reason'}`);
    if (Date.now() > deadline) throw new CliError(EXIT.runtime, `artifact still ${artifact.status} after 5 minutes`);
    if (artifact.status === 'verifying' && !said) out.info('verifying artifact');
    said = true;
  }
}

export type Deployment = Awaited<ReturnType<Api['deployments']['get']['query']>>;

/**
 * Creates the deployment (or joins the one in flight for the same artifact). The server waits
 * for a verifying artifact, but only so long (20 s; older servers not at all): when it answers
 * `conflict`, the artifact is waited for here, with its own deadline and errors, and the
 * request made again.
 */
export async function createDeployment(api: Api, app: string, digest: string, out: Output): Promise<Deployment> {
  const create = () => call('creating deployment', () => api.deployments.create.mutate({ app_name: app, digest }));
  const { deployment, created } = await create().catch(async (err: unknown) => {
    if (!(err instanceof CliError && err.code === 'conflict')) throw err;
    await waitStored(api, { app_name: app, digest }, out);
    return create();
  });
  out.info(`${created ? 'created' : 'joined in-flight'} deployment ${deployment.id}`);
  return deployment;
}

/** What a command that followed a deployment to `failed` ends with: exit 20, code `deployment_failed`. */
export function deploymentFailed(what: string, deployment: Deployment, hint: string): CliError {
  return new CliError(EXIT.runtime, `${what} failed: ${deployment.failure_reason ?? 'unknown reason'}`, hint, 'deployment_failed');
}

/** A release of new config or settings that ended `failed`; the previous one keeps serving. */
export function releaseFailed(app: string, deployment: Deployment): CliError {
  const hint = `aether logs --app ${app} --deployment ${deployment.id} shows its output; the previous release keeps serving`;
  return deploymentFailed('deployment', deployment, hint);
}

/** One line on how a followed deployment ended. */
export function describeOutcome(deployment: Deployment, running: string): string {
  if (deployment.status === 'running') return `${running}: ${deployment.url}`;
  return `deployment ${deployment.id} is ${deployment.status}${deployment.failure_reason ? `: ${deployment.failure_reason}` : ''}`;
}

/** Prints a deployment's phases as they are recorded, until it settles (at most 15 minutes). */
export async function followDeployment(api: Api, deployment: Deployment, out: Output): Promise<Deployment> {
  let current = deployment;
  let afterId = 0;
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const events = await call('reading deployment events', () => api.deployments.events.query({ id: deployment.id, after_id: afterId }));
    for (const e of events) {
      afterId = e.id;
      out.info(`  ${e.phase.padEnd(11)} ${e.message.split('\n')[0]}${e.duration_ms !== null ? ` (${e.duration_ms} ms)` : ''}`);
    }
    if (!['pending', 'rolling_out'].includes(current.status) || Date.now() > deadline) break;
    current = await call('waiting for rollout', () => api.deployments.wait.query({ id: deployment.id, timeout_ms: 1000 }));
  }
  return current;
}

/**
 * `--legacy-upload`: the deprecated single request `POST /artifacts` (the control plane streams
 * the body into storage and verifies before answering). For tools that cannot PUT to storage.
 */
export async function legacyUpload(conn: { apiBase: string; token: string }, app: string, packed: Packed, out: Output, signature?: string): Promise<void> {
  const { createReadStream } = await import('node:fs');
  const { Readable } = await import('node:stream');
  const url = `${conn.apiBase}/artifacts?app_name=${encodeURIComponent(app)}`;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${conn.token}`,
      'content-type': 'application/gzip',
      'content-length': String(packed.sizeBytes),
      'x-aether-artifact-digest': packed.digest,
      ...(signature ? { 'x-aether-signature': signature } : {}),
    },
    body: Readable.toWeb(createReadStream(packed.artifact)) as ReadableStream,
    duplex: 'half',
  } as RequestInit).catch((err: unknown) => {
    throw new CliError(EXIT.network, `cannot reach the control plane: ${(err as Error).message}`);
  });
  const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string; status?: string; failure_reason?: string | null; duplicate?: boolean };
  if (!res.ok) throw new CliError(res.status >= 500 ? EXIT.network : EXIT.runtime, `legacy upload refused: ${body.message ?? `HTTP ${res.status}`}`, undefined, body.code);
  if (body.status === 'failed') throw new CliError(EXIT.runtime, `artifact verification failed: ${body.failure_reason ?? 'unknown reason'}`);
  out.warn('POST /artifacts is deprecated: plain `aether deploy` uploads straight to storage');
  out.info(body.duplicate ? 'artifact already stored; nothing uploaded' : `uploaded ${packed.sizeBytes} bytes through the control plane`);
}
