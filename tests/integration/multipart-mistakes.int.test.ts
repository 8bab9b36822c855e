import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../support/artifacts';
import { callFace, callOk, type Face } from '../support/faces';
import { startTestPlane, type TestPlane } from '../support/harness';

/**
 * `POST /artifacts/multipart/complete` given a client's mistake answers 400 with the code that
 * names it, never 500 `internal`: the probe saw `part 1 was not uploaded` reach clients as
 * `internal`. Through the REST route table, on both faces, over the fs driver.
 */

const MiB = 1024 * 1024;
const APP = 'parts';

describe('multipart complete: client mistakes are 4xx with their code', { timeout: 120_000 }, () => {
  let plane: TestPlane;

  beforeAll(async () => {
    plane = await startTestPlane('pglite');
    await plane.caller('deployer').apps.create({ name: APP });
  });
  afterAll(async () => plane?.close());

  async function init(bytes: Buffer, digest = sha256(bytes)): Promise<{ digest: string; upload_id: string }> {
    const { upload_id } = await callOk<{ upload_id: string }>(plane, 'rest', { op: 'multipartInit', input: { app_name: APP, digest, size_bytes: bytes.length } });
    return { digest, upload_id };
  }

  async function putPart(digest: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const url = await callOk<{ url: string; headers: Record<string, string> }>(plane, 'rest', {
      op: 'multipartPresignPart',
      input: { app_name: APP, digest, upload_id: uploadId, part_number: partNumber },
    });
    const res = await fetch(url.url, { method: 'PUT', headers: url.headers, body: new Uint8Array(body) });
    expect(res.status, await res.clone().text()).toBe(200);
    return res.headers.get('etag')!;
  }

  const complete = (face: Face, bytes: Buffer, up: { digest: string; upload_id: string }, parts: Array<{ part_number: number; etag: string }>) =>
    callFace(plane, face, { op: 'multipartComplete', input: { app_name: APP, digest: up.digest, upload_id: up.upload_id, size_bytes: bytes.length, parts } });

  it.each(['rest', 'trpc'] as const)('%s: an ETag for a part that was never uploaded is 400 bad_request', async (face) => {
    const bytes = randomBytes(64 * 1024);
    const up = await init(bytes);
    const res = await complete(face, bytes, up, [{ part_number: 1, etag: `"${'a'.repeat(32)}"` }]);
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
    expect(res.message).toMatch(/part 1/);
  });

  it.each(['rest', 'trpc'] as const)('%s: a wrong ETag for an uploaded part is 400 bad_request', async (face) => {
    const bytes = randomBytes(64 * 1024);
    const up = await init(bytes);
    await putPart(up.digest, up.upload_id, 1, bytes);
    const res = await complete(face, bytes, up, [{ part_number: 1, etag: `"${'0'.repeat(32)}"` }]);
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
  });

  it.each(['rest', 'trpc'] as const)('%s: a short part that is not the last is 400 bad_request', async (face) => {
    const bytes = randomBytes(5 * MiB + 1024);
    const up = await init(bytes);
    const first = await putPart(up.digest, up.upload_id, 1, bytes.subarray(0, 1024));
    const second = await putPart(up.digest, up.upload_id, 2, bytes.subarray(1024));
    const res = await complete(face, bytes, up, [
      { part_number: 1, etag: first },
      { part_number: 2, etag: second },
    ]);
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
    expect(res.message).toMatch(/at least/);
  });

  it.each(['rest', 'trpc'] as const)('%s: assembled bytes that do not match the digest are 400 digest_mismatch', async (face) => {
    const declared = randomBytes(64 * 1024);
    const sent = randomBytes(declared.length);
    const up = await init(declared);
    const etag = await putPart(up.digest, up.upload_id, 1, sent);
    const res = await complete(face, declared, up, [{ part_number: 1, etag }]);
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'digest_mismatch' });
  });
});
