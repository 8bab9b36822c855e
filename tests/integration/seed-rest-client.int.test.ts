import { describe, expect, it } from 'vitest';
import { sha256 } from '../support/artifacts';
import { envAppArtifact } from '../support/env-app';
import { DB_KINDS, suitePlane, TOKENS } from '../support/harness';

/**
 * A client written against the seed's README only: plain fetch with a bearer token, the seed's
 * routes, bodies and field names, no tRPC. It runs the whole flow a seed CLI runs (create the
 * app, presign without a size, PUT, complete, HEAD, meta, deploy, events, logs), and the
 * seed's additions around it (PATCH and GET /deployments, tail_lines, request and trace ids).
 */

const APP = 'seed-client';
const TRACE_ID = 'seed-trace-0001';

describe.each(DB_KINDS)('a seed REST client (%s)', { timeout: 180_000 }, (kind) => {
  const plane = suitePlane(kind);

  async function api(method: string, path: string, body?: unknown, token: string = TOKENS.deployer): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-trace-id': TRACE_ID };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${plane().url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function json<T>(res: Response, status: number): Promise<T> {
    const text = await res.text();
    expect(res.status, text).toBe(status);
    return JSON.parse(text) as T;
  }

  /** Polls `probe` until it answers true, as a seed client would (no long-poll in the seed). */
  async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('creates the app, uploads through presign, deploys it and reads its events and logs', async () => {
    plane().startWorkers();
    const bytes = envAppArtifact();
    const digest = sha256(bytes);

    const created = await json<{ id: string; name: string }>(await api('POST', '/apps', { name: APP }), 201);
    expect(created.name).toBe(APP);

    const absent = await api('HEAD', `/artifacts/${digest}`);
    expect(absent.status).toBe(404);

    // The seed's presign body: no size_bytes.
    const presignRes = await api('POST', '/artifacts/presign', { app_name: APP, digest });
    expect(presignRes.headers.get('x-trace-id')).toBe(TRACE_ID);
    expect(presignRes.headers.get('x-request-id')).toBe(TRACE_ID);
    const presigned = await json<{
      method: string;
      upload_url: string;
      headers: Record<string, string>;
      storage_key: string;
    }>(presignRes, 200);
    expect(presigned.method).toBe('PUT');
    expect(presigned.storage_key).toBe(`artifacts/${APP}/${digest}/app.tar.gz`);

    const put = await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) });
    expect(put.status, await put.text()).toBeLessThan(300);

    const completed = await json<{ digest: string; duplicate: boolean; storage_key: string }>(
      await api('POST', '/artifacts/complete', {
        app_name: APP,
        digest,
        size_bytes: bytes.length,
        idempotency_key: `idem-${digest}`,
      }),
      200,
    );
    expect(completed).toMatchObject({ digest, duplicate: false, storage_key: presigned.storage_key });

    await until('the artifact to be stored', async () => (await api('HEAD', `/artifacts/${digest}`)).status === 200);
    const meta = await json<{ digest: string; size_bytes: number; status: string }>(
      await api('GET', `/artifacts/${digest}/meta`),
      200,
    );
    expect(meta).toMatchObject({ digest, size_bytes: bytes.length, status: 'stored' });

    // The seed CLI deploys by artifact_url (the storage key) and reads back {id, status}.
    const deployed = await json<Record<string, unknown>>(
      await api('POST', '/deployments', { app_name: APP, artifact_url: presigned.storage_key, dev_hot: false }),
      201,
    );
    expect(Object.keys(deployed).sort()).toEqual(['id', 'status']);
    expect(deployed.status).toBe('pending');
    const id = deployed.id as string;

    let status = '';
    await until('the deployment to settle', async () => {
      status = (await json<{ status: string }>(await api('GET', `/deployments/${id}`), 200)).status;
      return status !== 'pending' && status !== 'rolling_out';
    });
    expect(status).toBe('running');

    const events = await json<Array<{ phase: string }>>(await api('GET', `/deployments/${id}/events`), 200);
    expect(events.map((e) => e.phase)).toEqual(expect.arrayContaining(['created', 'rolling_out', 'running']));

    const logs = await api('GET', `/apps/${APP}/logs?tail_lines=20`, undefined, TOKENS.reader);
    expect(logs.status).toBe(200);
    expect(logs.headers.get('content-type')).toMatch(/^text\/plain/);
    await logs.text();

    const listed = await json<Array<{ id: string; app_name: string }>>(
      await api('GET', `/deployments?app_name=${APP}`, undefined, TOKENS.reader),
      200,
    );
    expect(listed.map((d) => d.id)).toEqual([id]);
    const all = await json<Array<{ id: string }>>(
      await api('GET', '/deployments?limit=5', undefined, TOKENS.reader),
      200,
    );
    expect(all.map((d) => d.id)).toContain(id);
  });

  it('PATCH /deployments/{id} rolls the app out to a stored digest; a malformed one is invalid_digest', async () => {
    const [latest] = await json<Array<{ id: string; digest: string }>>(
      await api('GET', `/deployments?app_name=${APP}`),
      200,
    );
    const patched = await json<{ id: string; app_name: string; digest: string; status: string }>(
      await api('PATCH', `/deployments/${latest!.id}`, { digest: latest!.digest }),
      200,
    );
    expect(patched).toMatchObject({ app_name: APP, digest: latest!.digest });
    expect(patched.id).not.toBe(latest!.id);

    const bad = await json<{ code: string }>(await api('PATCH', `/deployments/${latest!.id}`, { digest: 'ABC' }), 400);
    expect(bad.code).toBe('invalid_digest');
    const badPresign = await json<{ code: string }>(
      await api('POST', '/artifacts/presign', { app_name: APP, digest: 'f'.repeat(63) }),
      400,
    );
    expect(badPresign.code).toBe('invalid_digest');
    const noDigest = await json<{ code: string }>(
      await api('POST', '/deployments', { app_name: APP, artifact_url: 'artifacts/x/app.tar.gz' }),
      400,
    );
    expect(noDigest.code).toBe('invalid_digest');
  });

  it('tail and tail_lines that disagree are refused', async () => {
    const res = await api('GET', `/apps/${APP}/logs?tail=5&tail_lines=6`, undefined, TOKENS.reader);
    expect((await json<{ code: string }>(res, 400)).code).toBe('bad_request');
  });

  it("counts requests under the seed's metric names, by route template", async () => {
    const registry = plane().services.metrics.registry;
    const http = await registry.getSingleMetricAsString('http_requests_total');
    expect(http).toMatch(
      /http_requests_total\{method="POST",path="\/artifacts\/presign",status="200",outcome="success"\} [1-9]/,
    );
    expect(http).toMatch(/path="\/artifacts\/\{digest\}\/meta"/);
    expect(http).not.toContain('/artifacts/' + 'e'.repeat(8));
    const statusTotal = await registry.getSingleMetricAsString('deployment_status_total');
    expect(statusTotal).toMatch(/deployment_status_total\{status="pending"\} [1-9]/);
    for (const name of [
      'http_request_duration_seconds',
      'deployment_time_to_running_seconds',
      'deployments_running_total',
      'artifact_verify_failure_total',
    ]) {
      expect(await registry.getSingleMetricAsString(name)).toContain(name);
    }
  });
});

describe('a presign without size_bytes, judged at complete (postgres)', () => {
  const QUOTA = 300;
  const plane = suitePlane('postgres', { AETHER_MAX_TOTAL_BYTES_PER_APP: String(QUOTA) });
  const app = 'unsized';

  async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${plane().url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.deployer}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function presignAndPut(bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const presigned = await post('/artifacts/presign', { app_name: app, digest });
    expect(presigned.status).toBe(200);
    const { upload_url: url, headers } = presigned.body as { upload_url: string; headers: Record<string, string> };
    expect((await fetch(url, { method: 'PUT', headers, body: new Uint8Array(bytes) })).status).toBeLessThan(300);
    return digest;
  }

  it('a size other than the stored one is size_mismatch; the right one completes', async () => {
    expect((await post('/apps', { name: app })).status).toBe(201);
    const bytes = Buffer.alloc(200, 1);
    const digest = await presignAndPut(bytes);
    const wrong = await post('/artifacts/complete', { app_name: app, digest, size_bytes: 199 });
    expect([wrong.status, wrong.body.code]).toEqual([400, 'size_mismatch']);
    const right = await post('/artifacts/complete', { app_name: app, digest, size_bytes: 200 });
    expect([right.status, right.body.status]).toEqual([200, 'stored']);
  });

  it('the byte quota is checked at complete, with the real size', async () => {
    const bytes = Buffer.alloc(150, 2);
    const digest = await presignAndPut(bytes);
    const refused = await post('/artifacts/complete', { app_name: app, digest, size_bytes: 150 });
    expect([refused.status, refused.body.code]).toEqual([403, 'quota_exceeded']);
  });
});
