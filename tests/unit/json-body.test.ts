import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '@/server/errors';
import { readJsonBody } from '@/server/http/json-body';

/**
 * The REST body reader on a real node:http server: what it answers, and that it neither hangs
 * nor buffers past the cap when a client misbehaves.
 */
const CAP = 1024;
let server: Server;
let url: string;
/** What readJsonBody settled with, per request, in arrival order. */
const settled: Array<{ ok: true; body: unknown } | { ok: false; code: string }> = [];

beforeAll(async () => {
  server = createServer(async (req, res) => {
    try {
      const body = await readJsonBody(req, CAP);
      settled.push({ ok: true, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ body: body ?? null }));
    } catch (err) {
      const code = isAppError(err) ? err.code : 'internal';
      settled.push({ ok: false, code });
      res
        .writeHead(isAppError(err) ? err.httpStatus : 500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const post = async (init: RequestInit & { duplex?: 'half' }) => {
  const res = await fetch(`${url}/x`, { method: 'POST', ...init });
  return { status: res.status, body: (await res.json()) as unknown };
};

describe('readJsonBody', () => {
  it('reads a JSON object; an empty POST is {}; a DELETE body is read and dropped', async () => {
    expect(await post({ headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).toEqual({
      status: 200,
      body: { body: { a: 1 } },
    });
    expect(await post({})).toEqual({ status: 200, body: { body: {} } });
    expect(await post({ method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).toEqual({
      status: 200,
      body: { body: null },
    });
  });

  it('refuses what is not a JSON object: 400 for bad JSON and arrays, 415 for other types or a body without a type', async () => {
    expect(await post({ headers: { 'content-type': 'application/json' }, body: '{nope' })).toEqual({
      status: 400,
      body: { code: 'bad_request' },
    });
    expect(await post({ headers: { 'content-type': 'application/json' }, body: '[1]' })).toEqual({
      status: 400,
      body: { code: 'bad_request' },
    });
    expect(await post({ headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(64 * 1024) })).toEqual({
      status: 415,
      body: { code: 'unsupported_media_type' },
    });
    const untyped = await fetch(`${url}/x`, { method: 'POST', body: new Blob(['{"a":1}']) });
    expect(untyped.status).toBe(415);
  });

  it('413 for a declared or a streamed body over the cap, the connection still answering', async () => {
    expect(await post({ headers: { 'content-type': 'application/json' }, body: `{"a":"${'x'.repeat(CAP)}"}` })).toEqual(
      { status: 413, body: { code: 'payload_too_large' } },
    );
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 64 * CAP) return controller.close();
        sent += CAP;
        controller.enqueue(new Uint8Array(CAP).fill(32));
      },
    });
    expect(await post({ headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' })).toEqual({
      status: 413,
      body: { code: 'payload_too_large' },
    });
  });

  it('a client that hangs up mid-body ends the read with bad_request, not a hang', async () => {
    const before = settled.length;
    const { port } = new URL(url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          'POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
        );
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
    });
    await expect.poll(() => settled.slice(before)).toEqual([{ ok: false, code: 'bad_request' }]);
  });
});
