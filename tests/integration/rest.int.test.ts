import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, tarGz } from '../support/artifacts';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';

/** The REST face generated from the tRPC procedures: seed paths, field names and envelope. */
describe('REST contract', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane('pglite');
    plane.startWorkers();
  });
  afterAll(async () => plane?.close());

  const rest = (method: string, path: string, opts: { token?: string | null; body?: unknown; raw?: string } = {}) =>
    fetch(`${plane.url}${path}`, {
      method,
      headers: {
        ...(opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? TOKENS.deployer}` }),
        ...(opts.body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    });

  it('creates an app with 201 and lists it', async () => {
    const created = await rest('POST', '/apps', { body: { name: 'rest-app' } });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ name: 'rest-app', owner: 'deployer-user' });
    const list = await rest('GET', '/apps', { token: TOKENS.reader });
    expect(list.status).toBe(200);
    expect(((await list.json()) as Array<{ name: string }>).map((a) => a.name)).toContain('rest-app');
  });

  it('runs the upload flow with the seed field names', async () => {
    const bytes = tarGz({ 'package.json': '{"name":"rest-app"}' });
    const digest = sha256(bytes);
    const presign = await rest('POST', '/artifacts/presign', { body: { app_name: 'rest-app', digest, size_bytes: bytes.length } });
    expect(presign.status).toBe(200);
    const p = (await presign.json()) as { method: string; upload_url: string; headers: Record<string, string>; storage_key: string };
    expect(p).toMatchObject({ method: 'PUT', storage_key: `artifacts/rest-app/${digest}/app.tar.gz` });
    expect((await fetch(p.upload_url, { method: 'PUT', headers: p.headers, body: new Uint8Array(bytes) })).status).toBe(200);
    const complete = await rest('POST', '/artifacts/complete', { body: { app_name: 'rest-app', digest, size_bytes: bytes.length, idempotency_key: 'rest-1' } });
    expect(complete.status).toBe(200);
    expect(await complete.json()).toMatchObject({ digest, duplicate: false, status: 'stored', idempotency_key: 'rest-1', storage_key: p.storage_key });
    const waited = await rest('GET', `/apps/rest-app/artifacts/${digest}/wait?timeout_ms=15000`, { token: TOKENS.reader });
    expect(await waited.json()).toMatchObject({ status: 'stored', size_bytes: bytes.length });
  });

  it('answers errors with the { code, message } envelope and the right status', async () => {
    const cases: Array<[string, string, { token?: string | null; body?: unknown; raw?: string }, number, string]> = [
      ['GET', '/apps', { token: null }, 401, 'unauthorized'],
      ['GET', '/apps', { token: 'nope-nope-nope' }, 401, 'unauthorized'],
      ['POST', '/apps', { token: TOKENS.reader, body: { name: 'x' } }, 403, 'forbidden'],
      ['POST', '/apps', { body: { name: 'rest-app' } }, 409, 'conflict'],
      ['POST', '/apps', { body: { name: 'Bad_Name' } }, 400, 'bad_request'],
      ['POST', '/apps', { raw: '{"name": ' }, 400, 'bad_request'],
      ['GET', '/apps/ghost', { token: TOKENS.reader }, 404, 'not_found'],
      ['GET', '/no/such/route', {}, 404, 'not_found'],
      ['POST', '/artifacts/presign', { body: { app_name: 'rest-app', digest: 'abc', size_bytes: 1 } }, 400, 'invalid_digest'],
      ['POST', '/artifacts/complete', { body: { app_name: 'rest-app', digest: 'f'.repeat(64), size_bytes: 1 } }, 404, 'not_found'],
      ['GET', '/deployments/not-a-uuid', { token: TOKENS.reader }, 400, 'bad_request'],
    ];
    for (const [method, path, opts, status, code] of cases) {
      const res = await rest(method, path, opts);
      const body = (await res.json()) as { code: string; message: string };
      expect({ method, path, status: res.status, code: body.code }).toEqual({ method, path, status, code });
      expect(typeof body.message).toBe('string');
      expect(Object.keys(body).sort()).toEqual(['code', 'message']);
    }
  });

  it('publishes an OpenAPI document generated from the procedures, with a global bearer_auth', async () => {
    const res = await fetch(`${plane.url}/openapi.json`);
    const doc = (await res.json()) as { security: unknown; components: { securitySchemes: Record<string, unknown> }; paths: Record<string, Record<string, unknown>> };
    expect(doc.security).toEqual([{ bearer_auth: [] }]);
    expect(doc.components.securitySchemes.bearer_auth).toEqual({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/apps', '/artifacts/presign', '/artifacts/complete', '/deployments', '/deployments/{id}', '/apps/{app_name}/deployments']));
    expect(doc.paths['/artifacts/presign']).toHaveProperty('post');
  });
});
