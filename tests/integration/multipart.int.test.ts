import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { artifactStorageKey } from '../../server/contract/digest';
import { sha256, tarBytes } from '../support/artifacts';
import { callFace, callOk, type Face } from '../support/faces';
import { startTestPlane, type TestPlane } from '../support/harness';
import { filesUnder } from '../support/plane-state';
import { startTestS3, type TestS3 } from '../support/s3';
import { pollSettled } from '../support/staged-uploads';

/**
 * Multipart uploads end to end through the control plane, on each storage driver: init,
 * presigned part PUTs, complete with the parts' ETags, verification, and the ways it goes
 * wrong (a wrong ETag, a replayed complete, an abort). Neither driver lowers S3's 5 MiB
 * minimum part here (the control plane does not configure it), so the big upload is
 * 5 MiB + 5 MiB + a tail.
 */

const MiB = 1024 * 1024;
const APP = 'big';

interface CompleteAnswer {
  artifact_id: string;
  status: string;
  idempotency_key: string | null;
  digest: string;
}

/** A tar.gz of incompressible bytes: its size is about `bytes`. */
function bigArtifact(bytes: number): Buffer {
  return gzipSync(tarBytes({ 'package.json': '{"name":"big"}', 'blob.bin': randomBytes(bytes) }), { level: 1 });
}

function split(bytes: Buffer, sizes: number[]): Buffer[] {
  const parts: Buffer[] = [];
  let at = 0;
  for (const s of sizes) {
    parts.push(bytes.subarray(at, at + s));
    at += s;
  }
  if (at < bytes.length) parts.push(bytes.subarray(at));
  return parts;
}

describe.each(['fs', 's3'] as const)('multipart end to end over the %s driver', (driver) => {
  let plane: TestPlane;
  let s3: TestS3 | undefined;

  beforeAll(async () => {
    if (driver === 's3') {
      s3 = await startTestS3();
      // The control plane's S3 client takes credentials from the AWS default chain.
      vi.stubEnv('AWS_ACCESS_KEY_ID', s3.credentials.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.credentials.secretAccessKey);
    }
    plane = await startTestPlane('postgres', s3?.env ?? {});
    plane.startWorkers();
    await plane.caller('deployer').apps.create({ name: APP });
  });
  afterAll(async () => {
    await plane?.close();
    await s3?.stop();
    vi.unstubAllEnvs();
  });
  afterEach(() => {
    // Every presigned request the store saw was signed right (fauxqs does not check; the proxy does).
    expect(s3?.refusals ?? []).toEqual([]);
  });

  const multipartLeftovers = async () => (driver === 'fs' ? (await filesUnder(path.join(plane.dataDir, 'objects', '.multipart'))).length : 0);

  async function putPart(face: Face, digest: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const url = await callOk<{ url: string; method: 'PUT'; headers: Record<string, string> }>(plane, face, {
      op: 'multipartPresignPart',
      input: { app_name: APP, digest, upload_id: uploadId, part_number: partNumber },
    });
    expect(url.method).toBe('PUT');
    const res = await fetch(url.url, { method: 'PUT', headers: url.headers, body: new Uint8Array(body) });
    expect(res.status, await res.clone().text()).toBe(200);
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    return etag!;
  }

  it('uploads 3 parts, completes with their ETags, verifies to stored, and replays the complete', async () => {
    const bytes = bigArtifact(10 * MiB + 100 * 1024);
    const digest = sha256(bytes);
    const parts = split(bytes, [5 * MiB, 5 * MiB]);
    expect(parts).toHaveLength(3);

    const init = await callOk<{ upload_id: string; storage_key: string }>(plane, 'rest', {
      op: 'multipartInit',
      input: { app_name: APP, digest, size_bytes: bytes.length },
    });
    expect(init.storage_key).toBe(artifactStorageKey(APP, digest));
    expect((await plane.caller('reader').artifacts.get({ app_name: APP, digest })).status).toBe('pending');

    const etags = await Promise.all(parts.map((p, i) => putPart('rest', digest, init.upload_id, i + 1, p)));
    const body = {
      app_name: APP,
      digest,
      upload_id: init.upload_id,
      size_bytes: bytes.length,
      parts: etags.map((etag, i) => ({ part_number: i + 1, etag })),
      idempotency_key: `mp-${driver}`,
    };
    const done = await callOk<CompleteAnswer>(plane, 'rest', { op: 'multipartComplete', input: body });
    expect(done).toMatchObject({ digest, status: 'stored', idempotency_key: `mp-${driver}` });

    const settled = await pollSettled(plane, APP, digest, 20_000);
    expect(settled).toMatchObject({ status: 'stored', size_bytes: bytes.length, artifact_id: done.artifact_id });
    expect(await plane.services.storage.head(init.storage_key)).toMatchObject({ sizeBytes: bytes.length, declaredSha256: digest });
    expect(await multipartLeftovers()).toBe(0);
    const head = await callFace(plane, 'rest', { op: 'head', input: { digest, app_name: APP }, token: 'reader' });
    expect(head.status).toBe(200);

    // The same complete again, on either face, with the same key: the same artifact.
    for (const face of ['rest', 'trpc'] as const) {
      const again = await callOk<CompleteAnswer>(plane, face, { op: 'multipartComplete', input: body });
      expect(again).toMatchObject({ artifact_id: done.artifact_id, status: 'stored', idempotency_key: `mp-${driver}` });
    }
    // Another key for the same completed upload is a conflict, and changes nothing.
    const other = await callFace(plane, 'trpc', { op: 'multipartComplete', input: { ...body, idempotency_key: 'someone-else' } });
    expect({ status: other.status, code: other.code }).toEqual({ status: 409, code: 'idempotency_conflict' });
    expect(await plane.caller('reader').artifacts.get({ app_name: APP, digest })).toMatchObject({ status: 'stored', artifact_id: done.artifact_id });
  });

  it('presigns several parts in one call, on both faces, and refuses repeats, oversized batches and unknown uploads', async () => {
    const bytes = bigArtifact(10 * MiB + 100 * 1024);
    const digest = sha256(bytes);
    const parts = split(bytes, [5 * MiB, 5 * MiB]);
    const { upload_id } = await callOk<{ upload_id: string }>(plane, 'trpc', { op: 'multipartInit', input: { app_name: APP, digest, size_bytes: bytes.length } });
    const ask = (face: Face, part_numbers: number[], uploadId = upload_id) =>
      callFace(plane, face, { op: 'multipartPresignParts', input: { app_name: APP, digest, upload_id: uploadId, part_numbers } });

    for (const [face, numbers, code] of [
      ['rest', [1, 1], 'bad_request'],
      ['trpc', [], 'bad_request'],
      ['trpc', Array.from({ length: 65 }, (_, i) => i + 1), 'bad_request'],
      ['rest', [0], 'bad_request'],
    ] as const) {
      const res = await ask(face, [...numbers]);
      expect({ face, numbers: numbers.length, status: res.status, code: res.code }).toEqual({ face, numbers: numbers.length, status: 400, code });
    }
    const unknown = await ask('rest', [1], 'not-the-upload');
    expect({ status: unknown.status, code: unknown.code }).toEqual({ status: 400, code: 'upload_id_mismatch' });

    const batch = (await ask('rest', [3, 1])).data as { parts: Array<{ part_number: number; url: string; headers: Record<string, string> }>; expires_at: string };
    expect(batch.parts.map((p) => p.part_number)).toEqual([3, 1]);
    expect(Date.parse(batch.expires_at)).toBeGreaterThan(Date.now());
    const second = (await ask('trpc', [2])).data as typeof batch;
    const urls = new Map([...batch.parts, ...second.parts].map((p) => [p.part_number, p]));
    const etags: string[] = [];
    for (const [i, body] of parts.entries()) {
      const u = urls.get(i + 1)!;
      const res = await fetch(u.url, { method: 'PUT', headers: u.headers, body: new Uint8Array(body) });
      expect(res.status, await res.clone().text()).toBe(200);
      etags.push(res.headers.get('etag')!);
    }
    const done = await callOk<CompleteAnswer>(plane, 'trpc', {
      op: 'multipartComplete',
      input: { app_name: APP, digest, upload_id, size_bytes: bytes.length, parts: etags.map((etag, i) => ({ part_number: i + 1, etag })) },
    });
    expect(done.status).toBe('stored');
    expect((await pollSettled(plane, APP, digest, 20_000)).status).toBe('stored');
  });

  it('presigns the first parts with the init itself, on both faces, refusing a bad list before anything starts', async () => {
    const bytes = bigArtifact(5 * MiB + 300 * 1024);
    const digest = sha256(bytes);
    const parts = split(bytes, [5 * MiB]);
    const bad = await callFace(plane, 'rest', { op: 'multipartInit', input: { app_name: APP, digest, size_bytes: bytes.length, presign_part_numbers: [1, 1] } });
    expect({ status: bad.status, code: bad.code }).toEqual({ status: 400, code: 'bad_request' });
    await expect(plane.caller('reader').artifacts.get({ app_name: APP, digest })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    for (const face of ['trpc', 'rest'] as const) {
      const started = await callOk<{ upload_id: string; presigned: { parts: Array<{ part_number: number; url: string; headers: Record<string, string> }>; expires_at: string } }>(
        plane,
        face,
        { op: 'multipartInit', input: { app_name: APP, digest, size_bytes: bytes.length, presign_part_numbers: [1, 2] } },
      );
      expect(started.presigned.parts.map((p) => p.part_number)).toEqual([1, 2]);
      expect(Date.parse(started.presigned.expires_at)).toBeGreaterThan(Date.now());
      if (face === 'trpc') continue; // the REST init below replaces this upload
      const etags: string[] = [];
      for (const [i, body] of parts.entries()) {
        const u = started.presigned.parts[i]!;
        const res = await fetch(u.url, { method: 'PUT', headers: u.headers, body: new Uint8Array(body) });
        expect(res.status, await res.clone().text()).toBe(200);
        etags.push(res.headers.get('etag')!);
      }
      const done = await callOk<CompleteAnswer>(plane, 'trpc', {
        op: 'multipartComplete',
        input: { app_name: APP, digest, upload_id: started.upload_id, size_bytes: bytes.length, parts: etags.map((etag, i) => ({ part_number: i + 1, etag })) },
      });
      expect(done.status).toBe('stored');
    }
    expect((await pollSettled(plane, APP, digest, 20_000)).status).toBe('stored');
  });

  it('takes the part layout with the init: parts cut that way complete; a layout of too many parts is refused first', async () => {
    const bytes = bigArtifact(10 * MiB + 100 * 1024);
    const digest = sha256(bytes);
    const tooFine = await callFace(plane, 'rest', { op: 'multipartInit', input: { app_name: APP, digest, size_bytes: bytes.length, part_size_bytes: 1000 } });
    expect({ status: tooFine.status, code: tooFine.code }).toEqual({ status: 400, code: 'bad_request' });
    await expect(plane.caller('reader').artifacts.get({ app_name: APP, digest })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const { upload_id } = await callOk<{ upload_id: string }>(plane, 'trpc', {
      op: 'multipartInit',
      input: { app_name: APP, digest, size_bytes: bytes.length, part_size_bytes: 5 * MiB },
    });
    const parts = split(bytes, [5 * MiB, 5 * MiB]);
    // Last part first, as parallel uploads may land.
    const etags = new Map<number, string>();
    for (const n of [3, 1, 2]) etags.set(n, await putPart('trpc', digest, upload_id, n, parts[n - 1]!));
    const done = await callOk<CompleteAnswer>(plane, 'trpc', {
      op: 'multipartComplete',
      input: { app_name: APP, digest, upload_id, size_bytes: bytes.length, parts: [1, 2, 3].map((n) => ({ part_number: n, etag: etags.get(n)! })) },
    });
    expect(done.status).toBe('stored');
    expect((await pollSettled(plane, APP, digest, 20_000)).status).toBe('stored');
    expect(await multipartLeftovers()).toBe(0);
  });

  it('refuses a wrong ETag with 400, keeps the upload open, and completes with the right one', async () => {
    const bytes = bigArtifact(64 * 1024);
    const digest = sha256(bytes);
    const { upload_id } = await callOk<{ upload_id: string }>(plane, 'trpc', { op: 'multipartInit', input: { app_name: APP, digest, size_bytes: bytes.length } });
    // A first attempt at part 1 sent the wrong bytes; the retry replaces it, as on S3.
    const stale = await putPart('trpc', digest, upload_id, 1, randomBytes(bytes.length));
    const etag = await putPart('trpc', digest, upload_id, 1, bytes);
    expect(etag).not.toBe(stale);
    const input = (e: string) => ({ app_name: APP, digest, upload_id, size_bytes: bytes.length, parts: [{ part_number: 1, etag: e }] });

    for (const wrong of [`"${'0'.repeat(32)}"`, stale]) {
      for (const face of ['rest', 'trpc'] as const) {
        const res = await callFace(plane, face, { op: 'multipartComplete', input: input(wrong) });
        expect({ face, status: res.status, code: res.code }).toEqual({ face, status: 400, code: 'bad_request' });
      }
    }
    expect((await plane.caller('reader').artifacts.get({ app_name: APP, digest })).status).toBe('pending');
    expect(await plane.services.storage.head(artifactStorageKey(APP, digest))).toBeNull();

    const done = await callOk<CompleteAnswer>(plane, 'trpc', { op: 'multipartComplete', input: input(etag) });
    expect(done.status).toBe('stored');
    expect((await pollSettled(plane, APP, digest)).status).toBe('stored');
  });

  it('answers concurrent identical completes (a client retrying while the first is in flight) like a replay', async () => {
    const bytes = bigArtifact(256 * 1024);
    const digest = sha256(bytes);
    const { upload_id } = await callOk<{ upload_id: string }>(plane, 'trpc', { op: 'multipartInit', input: { app_name: APP, digest, size_bytes: bytes.length } });
    const etag = await putPart('trpc', digest, upload_id, 1, bytes);
    const input = { app_name: APP, digest, upload_id, size_bytes: bytes.length, parts: [{ part_number: 1, etag }], idempotency_key: `retry-${driver}` };

    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => callFace(plane, i % 2 ? 'rest' : 'trpc', { op: 'multipartComplete', input })));

    expect(results.map((r) => `${r.status}:${r.code ?? ''}`)).toEqual(Array(5).fill('200:'));
    expect(new Set(results.map((r) => (r.data as CompleteAnswer).artifact_id)).size).toBe(1);
    expect((await pollSettled(plane, APP, digest)).status).toBe('stored');
  });

  it('aborts: the pending row and the uploaded parts are gone', async () => {
    const bytes = bigArtifact(32 * 1024);
    const digest = sha256(bytes);
    const before = await multipartLeftovers();
    const { upload_id } = await callOk<{ upload_id: string }>(plane, 'rest', { op: 'multipartInit', input: { app_name: APP, digest, size_bytes: bytes.length } });
    await putPart('rest', digest, upload_id, 1, bytes);
    if (driver === 'fs') expect(await multipartLeftovers()).toBeGreaterThan(before);

    const aborted = await callOk<{ aborted: boolean }>(plane, 'rest', { op: 'multipartAbort', input: { app_name: APP, digest, upload_id } });
    expect(aborted).toEqual({ aborted: true });

    const get = await callFace(plane, 'trpc', { op: 'get', input: { app_name: APP, digest }, token: 'reader' });
    expect({ status: get.status, code: get.code }).toEqual({ status: 404, code: 'not_found' });
    expect(await multipartLeftovers()).toBe(before);
    expect(await plane.services.storage.head(artifactStorageKey(APP, digest))).toBeNull();
    // The upload id is dead: no more parts, no complete.
    const part = await callFace(plane, 'rest', { op: 'multipartPresignPart', input: { app_name: APP, digest, upload_id, part_number: 1 } });
    expect({ status: part.status, code: part.code }).toEqual({ status: 400, code: 'unknown_digest' });
  });
});
