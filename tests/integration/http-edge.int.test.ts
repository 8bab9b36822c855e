import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, tarBytes } from '../support/artifacts';
import { callFace } from '../support/faces';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { methodCall, rawExchange } from '../support/raw-http';
import { uploadArtifact } from '../support/upload';

/**
 * What a black-box probe found at the HTTP faces: bodies of any size read (an app created
 * from 64 MiB of JSON), non-object JSON bodies accepted, 405/415/431 answered without the
 * `{ code, message }` envelope, TRACE a 500. Each case asserts the exact status and code,
 * through the control plane's own node:http edge and route table.
 */

const MiB = 1024 * 1024;
const CAP = MiB; // AETHER_MAX_JSON_BODY_BYTES' default

const auth = (role: keyof typeof TOKENS = 'deployer') => ({ authorization: `Bearer ${TOKENS[role]}` });

/** A JSON object of exactly `bytes` bytes that creates app `name` (the rest is padding). */
function appBody(name: string, bytes: number): string {
  const head = `{"name":"${name}","pad":"`;
  return `${head}${'x'.repeat(bytes - head.length - 2)}"}`;
}

/** A chunked body (no Content-Length) of `total` bytes of an app-creating JSON object; counts what was pulled. */
function chunkedAppBody(name: string, total: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  const bytes = Buffer.from(appBody(name, total));
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const chunk = bytes.subarray(at, at + 64 * 1024);
      at += chunk.length;
      controller.enqueue(new Uint8Array(chunk));
    },
  });
  return { stream, pulled: () => at };
}

describe('the HTTP faces answer client mistakes with the envelope', { timeout: 120_000 }, () => {
  let plane: TestPlane;

  beforeAll(async () => {
    plane = await startTestPlane('pglite');
    // The legacy upload waits for verification to answer.
    plane.startWorkers();
  });
  afterAll(async () => plane?.close());

  const appExists = async (name: string) => (await fetch(`${plane.url}/apps/${name}`, { headers: auth('reader') })).status === 200;

  describe('request body caps (1 MiB by default)', () => {
    it('REST: a body declared over the cap is refused with 413 payload_too_large, nothing created', async () => {
      const res = await fetch(`${plane.url}/apps`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: appBody('big-declared', 2 * CAP) });
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 413, body: { code: 'payload_too_large', message: expect.any(String) } });
      expect(await appExists('big-declared')).toBe(false);
    });

    it('REST: a chunked 64 MiB body is answered 413 once the cap is crossed, without reading it all', async () => {
      const { stream, pulled } = chunkedAppBody('big-chunked', 64 * MiB);
      const res = await fetch(`${plane.url}/apps`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 413, body: { code: 'payload_too_large', message: expect.any(String) } });
      // The cap, a bounded drain (16 MiB) and buffers in flight: far from the 64 MiB sent.
      expect(pulled()).toBeLessThan(24 * MiB);
      expect(await appExists('big-chunked')).toBe(false);
    });

    it('tRPC: the same bodies fail with 413 and error.data.code payload_too_large', async () => {
      const declared = await callFace(plane, 'trpc', { op: 'createApp', raw: appBody('big-trpc', 2 * CAP) });
      expect({ status: declared.status, code: declared.code }).toEqual({ status: 413, code: 'payload_too_large' });

      const { stream, pulled } = chunkedAppBody('big-trpc-chunked', 64 * MiB);
      const res = await fetch(`${plane.url}/api/trpc/apps.create`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
      const body = (await res.json()) as { error?: { data?: { code?: string } } };
      expect({ status: res.status, code: body.error?.data?.code }).toEqual({ status: 413, code: 'payload_too_large' });
      expect(pulled()).toBeLessThan(24 * MiB);
      expect(await appExists('big-trpc')).toBe(false);
      expect(await appExists('big-trpc-chunked')).toBe(false);
    });

    it('a body just under the cap is served on both faces', async () => {
      const rest = await fetch(`${plane.url}/apps`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: appBody('under-cap', CAP - 16) });
      expect(rest.status, await rest.clone().text()).toBe(201);
      const trpc = await callFace(plane, 'trpc', { op: 'createApp', raw: appBody('under-cap-trpc', CAP - 16) });
      expect(trpc.status).toBe(200);
    });

    it('artifact bytes keep their own limits: a presigned PUT and the legacy upload of 2 MiB go through', async () => {
      await plane.caller('deployer').apps.create({ name: 'bytes' });
      const bytes = gzipSync(tarBytes({ 'package.json': '{"name":"bytes"}', 'blob.bin': randomBytes(2 * MiB) }), { level: 1 });
      expect(bytes.length).toBeGreaterThan(2 * MiB);
      const { completed } = await uploadArtifact(plane, 'bytes', bytes);
      expect(completed.digest).toBe(sha256(bytes));

      const other = gzipSync(tarBytes({ 'package.json': '{"name":"bytes"}', 'other.bin': randomBytes(2 * MiB) }), { level: 1 });
      const legacy = await fetch(`${plane.url}/artifacts?app_name=bytes`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/gzip', 'x-aether-artifact-digest': sha256(other) },
        body: new Uint8Array(other),
      });
      expect(legacy.status, await legacy.clone().text()).toBeLessThan(300);
    });
  });

  describe('REST bodies must be JSON objects', () => {
    beforeAll(async () => {
      await plane.caller('deployer').apps.create({ name: 'limited' });
      await plane.caller('admin').apps.setLimits({ app_name: 'limited', max_artifacts: 7 });
    });

    it.each([['[]'], ['"hello"'], ['5'], ['null'], ['true']])('PATCH /apps/{app}/limits with %s is 400 bad_request and changes nothing', async (raw) => {
      const res = await callFace(plane, 'rest', { op: 'setLimits', input: { app_name: 'limited' }, raw, token: 'admin' });
      expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
      const limits = await plane.caller('reader').apps.limits({ app_name: 'limited' });
      expect(limits.overrides.max_artifacts).toBe(7);
    });

    it('POST routes too: an array body is 400 bad_request, and nothing is created', async () => {
      const res = await callFace(plane, 'rest', { op: 'createApp', raw: '[{"name":"from-array"}]' });
      expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
      expect(await appExists('from-array')).toBe(false);
    });

    it('malformed JSON is 400 bad_request; a non-JSON Content-Type is 415 unsupported_media_type on both faces', async () => {
      const broken = await callFace(plane, 'rest', { op: 'createApp', raw: '{"name": ' });
      expect({ status: broken.status, code: broken.code }).toEqual({ status: 400, code: 'bad_request' });
      for (const face of ['rest', 'trpc'] as const) {
        const res = await callFace(plane, face, { op: 'createApp', input: { name: 'as-text' }, contentType: 'text/plain' });
        expect({ face, status: res.status, code: res.code }).toEqual({ face, status: 415, code: 'unsupported_media_type' });
      }
      expect(await appExists('as-text')).toBe(false);
    });
  });

  describe('methods a route does not serve: 405 method_not_allowed with Allow', () => {
    it.each([
      ['PUT', '/apps', 'GET, HEAD, POST'],
      ['DELETE', '/whoami', 'GET, HEAD'],
      ['POST', '/apps/limited/limits', 'GET, HEAD, PATCH'],
      ['PATCH', '/apps/limited/logs', 'GET, HEAD'],
      ['TRACE', '/apps', 'GET, HEAD, POST'],
      ['TRACE', '/api/trpc/apps.create', 'POST'],
      ['PROPFIND', '/healthz', 'GET, HEAD'],
      ['PUT', '/api/trpc/apps.list', 'GET'],
    ])('%s %s', async (method, path, allow) => {
      const res = await methodCall(`${plane.url}${path}`, method, auth());
      expect({ status: res.status, allow: res.allow, body: JSON.parse(res.body) }).toEqual({
        status: 405,
        allow,
        body: { code: 'method_not_allowed', message: expect.stringContaining(method) },
      });
    });

    it('HEAD of a GET REST path answers as GET would, without a body; tRPC says which method a procedure takes', async () => {
      const get = await fetch(`${plane.url}/apps`, { headers: auth() });
      const head = await fetch(`${plane.url}/apps`, { method: 'HEAD', headers: auth() });
      expect({ status: head.status, type: head.headers.get('content-type'), body: await head.text() }).toEqual({
        status: 200,
        type: get.headers.get('content-type'),
        body: '',
      });
      expect((await fetch(`${plane.url}/apps`, { method: 'HEAD' })).status).toBe(401);
      const res = await fetch(`${plane.url}/api/trpc/apps.create`, { headers: auth() });
      const body = (await res.json()) as { error?: { data?: { code?: string } } };
      expect({ status: res.status, allow: res.headers.get('allow'), code: body.error?.data?.code }).toEqual({ status: 405, allow: 'POST', code: 'method_not_allowed' });
    });
  });

  describe('request targets and HEAD', () => {
    it('an absolute-form target or `*` names no route: 404 not_found, never the procedure at its path nor a 500', async () => {
      for (const target of ['http://elsewhere.example/apps', '*']) {
        const res = await rawExchange(plane.url, `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.deployer}\r\nConnection: close\r\n\r\n`);
        expect({ target, status: res.status, body: JSON.parse(res.body) }).toEqual({ target, status: 404, body: { code: 'not_found', message: expect.any(String) } });
      }
    });

    it("HEAD of an app's logs answers as GET does, without the body (the logs handler, not a procedure's 404)", async () => {
      const created = await fetch(`${plane.url}/apps`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'head-logs' }) });
      expect(created.status).toBe(201);
      for (const query of ['?format=xml', '']) {
        const get = await fetch(`${plane.url}/apps/head-logs/logs${query}`, { headers: auth('reader') });
        const code = ((await get.json()) as { code?: string }).code;
        const head = await fetch(`${plane.url}/apps/head-logs/logs${query}`, { method: 'HEAD', headers: auth('reader') });
        expect({ query, status: head.status, type: head.headers.get('content-type'), body: await head.text() }).toEqual({ query, status: get.status, type: get.headers.get('content-type'), body: '' });
        // A bad format is the logs handler's 400; with no deployment yet, its 404.
        expect({ query, status: get.status, code }).toEqual(query ? { query, status: 400, code: 'bad_request' } : { query, status: 404, code: 'not_found' });
      }
    });
  });

  describe("failures of Node's HTTP parser", () => {
    it('oversized headers: 431 request_header_fields_too_large with the envelope', async () => {
      const res = await rawExchange(plane.url, `GET /apps HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
      expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({ status: 431, body: { code: 'request_header_fields_too_large', message: expect.any(String) } });
      expect(res.headers).toMatch(/^content-type: application\/json$/im);
    });

    it('a malformed request: 400 bad_request with the envelope', async () => {
      const res = await rawExchange(plane.url, 'GET /apps HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n');
      expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({ status: 400, body: { code: 'bad_request', message: expect.any(String) } });
    });
  });
});
