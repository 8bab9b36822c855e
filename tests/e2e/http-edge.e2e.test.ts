import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, tarGz } from '../support/artifacts';
import { freePort, killLocalApps, ROOT, startPlaneProcess, type PlaneProcess } from '../support/control-plane-process';
import { methodCall, rawExchange } from '../support/raw-http';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis';

/**
 * The probe's findings against what users run: `npm start` (Next's production build behind
 * the node:http edge, server/http/serve.ts). Two things only a real process shows: what Node's
 * parser and Next refuse before any route runs (TRACE, oversized headers), and errors crossing
 * Next's separately bundled copies of our modules (`instanceof AppError` failed there).
 */

const MiB = 1024 * 1024;

describe('the production web process answers client mistakes with the envelope', { timeout: 180_000 }, () => {
  const admin = `e2e-admin-${randomUUID()}`;
  const prefix = `e2e-edge-${randomUUID()}`;
  let work: string;
  let plane: PlaneProcess;
  const auth = { authorization: `Bearer ${admin}` };
  const json = { ...auth, 'content-type': 'application/json' };

  beforeAll(async () => {
    const build = path.join(ROOT, process.env.AETHER_NEXT_DIST_DIR || '.next', 'BUILD_ID');
    if (!existsSync(build)) throw new Error(`build first (npx next build); missing: ${build}`);
    work = await mkdtemp(path.join(os.tmpdir(), 'aether-e2e-edge-'));
    plane = await startPlaneProcess(
      { AETHER_DATA_DIR: path.join(work, 'data'), REDIS_URL: TEST_REDIS_URL, AETHER_QUEUE_PREFIX: prefix, AETHER_API_TOKENS: `${admin}:admin:ada`, AETHER_LOG_LEVEL: 'warn' },
      await freePort(),
    );
    const created = await fetch(`${plane.url}/apps`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'edge' }) });
    expect(created.status, await created.clone().text()).toBe(201);
  });
  afterAll(async () => {
    await plane?.stop();
    if (work) await killLocalApps(path.join(work, 'data'));
    await deletePrefix(prefix);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('TRACE is 405 method_not_allowed with Allow, not a 500', async () => {
    const res = await methodCall(`${plane.url}/apps`, 'TRACE', auth);
    expect({ status: res.status, allow: res.allow, body: JSON.parse(res.body) }).toEqual({
      status: 405,
      allow: 'GET, HEAD, POST',
      body: { code: 'method_not_allowed', message: expect.any(String) },
    });
  });

  it('a method a route does not export is 405 with the envelope, on REST, tRPC and plain routes', async () => {
    for (const [method, url, allow] of [
      ['PUT', '/apps', 'GET, HEAD, POST'],
      ['DELETE', '/api/trpc/apps.create', 'POST'],
      ['PATCH', '/healthz', 'GET, HEAD'],
      ['POST', '/apps/edge/logs', 'GET, HEAD'],
    ] as const) {
      const res = await methodCall(`${plane.url}${url}`, method, auth);
      expect({ method, url, status: res.status, allow: res.allow, body: JSON.parse(res.body) }).toEqual({
        method,
        url,
        status: 405,
        allow,
        body: { code: 'method_not_allowed', message: expect.any(String) },
      });
    }
  });

  it('oversized headers are 431 request_header_fields_too_large with the envelope', async () => {
    const res = await rawExchange(plane.url, `GET /apps HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({ status: 431, body: { code: 'request_header_fields_too_large', message: expect.any(String) } });
  });

  it('a 2 MiB JSON body is 413 payload_too_large on REST and tRPC; a non-object body is 400; text is 415', async () => {
    const big = JSON.stringify({ name: 'too-big', pad: 'x'.repeat(2 * MiB) });
    const rest = await fetch(`${plane.url}/apps`, { method: 'POST', headers: json, body: big });
    expect({ status: rest.status, body: await rest.json() }).toEqual({ status: 413, body: { code: 'payload_too_large', message: expect.any(String) } });
    const trpc = await fetch(`${plane.url}/api/trpc/apps.create`, { method: 'POST', headers: json, body: big });
    expect({ status: trpc.status, code: ((await trpc.json()) as { error?: { data?: { code?: string } } }).error?.data?.code }).toEqual({ status: 413, code: 'payload_too_large' });

    const limits = await fetch(`${plane.url}/apps/edge/limits`, { method: 'PATCH', headers: json, body: '[]' });
    expect({ status: limits.status, body: await limits.json() }).toEqual({ status: 400, body: { code: 'bad_request', message: expect.any(String) } });
    const text = await fetch(`${plane.url}/apps`, { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: '{"name":"as-text"}' });
    expect({ status: text.status, body: await text.json() }).toEqual({ status: 415, body: { code: 'unsupported_media_type', message: expect.any(String) } });
  });

  it('multipart complete with a part that was never uploaded is 400 bad_request, not 500 internal', async () => {
    const bytes = randomBytes(64 * 1024);
    const digest = sha256(bytes);
    const init = await fetch(`${plane.url}/artifacts/multipart/init`, { method: 'POST', headers: json, body: JSON.stringify({ app_name: 'edge', digest, size_bytes: bytes.length }) });
    expect(init.status, await init.clone().text()).toBe(200);
    const { upload_id } = (await init.json()) as { upload_id: string };
    const body = JSON.stringify({ app_name: 'edge', digest, upload_id, size_bytes: bytes.length, parts: [{ part_number: 1, etag: `"${'a'.repeat(32)}"` }] });
    const res = await fetch(`${plane.url}/artifacts/multipart/complete`, { method: 'POST', headers: json, body });
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 400, body: { code: 'bad_request', message: expect.stringContaining('part 1') } });
  });

  it('followed logs of a running app that prints nothing send their headers at once', async () => {
    const artifact = tarGz({
      'package.json': JSON.stringify({ name: 'edge', scripts: { start: 'node index.js' } }),
      'index.js': `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n`,
    });
    const digest = sha256(artifact);
    const presign = await fetch(`${plane.url}/artifacts/presign`, { method: 'POST', headers: json, body: JSON.stringify({ app_name: 'edge', digest, size_bytes: artifact.length }) });
    const url = (await presign.json()) as { upload_url: string; headers: Record<string, string> };
    expect((await fetch(url.upload_url, { method: 'PUT', headers: url.headers, body: new Uint8Array(artifact) })).status).toBe(200);
    const done = await fetch(`${plane.url}/artifacts/complete`, { method: 'POST', headers: json, body: JSON.stringify({ app_name: 'edge', digest, size_bytes: artifact.length }) });
    expect(done.status, await done.clone().text()).toBe(200);
    const verified = await fetch(`${plane.url}/apps/edge/artifacts/${digest}/wait?timeout_ms=20000`, { headers: auth });
    expect(((await verified.json()) as { status: string }).status).toBe('stored');
    const deployed = await fetch(`${plane.url}/deployments`, { method: 'POST', headers: json, body: JSON.stringify({ app_name: 'edge', digest }) });
    expect(deployed.status, await deployed.clone().text()).toBeLessThan(300);
    // The seed's answer: 201 {id, status}.
    const deployment = (await deployed.json()) as { id: string };
    const settled = await fetch(`${plane.url}/deployments/${deployment.id}/wait?timeout_ms=30000`, { headers: auth });
    const status = (await settled.json()) as { status: string };
    expect(status.status, JSON.stringify(status)).toBe('running');

    const ac = new AbortController();
    const started = Date.now();
    const late = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 5000).unref());
    const res = await Promise.race([fetch(`${plane.url}/apps/edge/logs?follow=1&tail=0`, { headers: auth, signal: ac.signal }), late]);
    expect(res).not.toBe('late');
    expect((res as Response).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
    ac.abort();
  });
});
