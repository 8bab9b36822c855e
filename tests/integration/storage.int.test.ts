import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { artifactStorageKey } from '../../server/contract/digest';
import type { PresignedRequest, StorageDriver } from '../../server/storage/port';
import { drivers, type StartedDriver } from '../support/storage-drivers';

/**
 * The storage port's contract, run against every driver through real presigned URLs: what one
 * driver accepts or refuses, the other must too, with the same error codes.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic bytes: `size` bytes derived from `seed`. */
function bytesOf(seed: string, size: number): Buffer {
  const block = createHash('sha256').update(seed).digest();
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += block.length) block.copy(out, i);
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Sends `body` as a stream with a Content-Length (S3 refuses chunked PUTs without one), the
 * way the CLI uploads a file it does not hold in memory.
 */
function send(req: PresignedRequest, body: Buffer | null, headers: Record<string, string> = req.headers) {
  return new Promise<{ status: number; etag: string | null; text: string }>((resolve, reject) => {
    const out = httpRequest(req.url, { method: req.method, headers: { ...headers, 'content-length': String(body?.length ?? 0) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: (res.headers.etag as string | undefined) ?? null, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    out.on('error', reject);
    // 64 KiB slices: the server sees a streamed body, not one buffer.
    Readable.from(body === null ? [] : chunked(body, 64 * KiB)).pipe(out);
  });
}

function* chunked(b: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.each(drivers)('storage contract: $name driver', (factory) => {
  let started: StartedDriver;
  let storage: StorageDriver;
  const computed = (sha: string) => (factory.name === 'fs' ? sha : null); // S3 does not hash for us

  beforeAll(async () => {
    started = await factory.start();
    storage = started.driver;
  });
  afterEach(() => {
    expect(started.internalErrors).toEqual([]);
  });
  afterAll(async () => {
    await started?.close();
  });

  /** Uploads one part through its presigned URL; returns the ETag the store answered. */
  async function uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const url = await storage.presignPart(key, { uploadId, partNumber, expiresInSecs: 60 });
    expect(url.method).toBe('PUT');
    const res = await send(url, body);
    expect(res.status, res.text).toBe(200);
    expect(res.etag).toMatch(/^"[^"]+"$/);
    return res.etag!;
  }

  describe('single PUT', () => {
    const body = bytesOf('single', 3 * MiB + 123);
    const sha = sha256(body);
    const key = artifactStorageKey('web', sha);

    it('stores streamed bytes; head reports size and the declared sha256; openRead round-trips', async () => {
      const put = await storage.presignPut(key, { sha256: sha, expiresInSecs: 60 });
      expect(put.method).toBe('PUT');
      expect(put.headers).toMatchObject({ 'content-type': 'application/gzip', 'x-amz-meta-sha256': sha });
      expect(put.expiresAt.getTime()).toBeGreaterThan(Date.now());
      const res = await send(put, body);
      expect(res.status, res.text).toBe(200);
      expect(await storage.head(key)).toEqual({ sizeBytes: body.length, declaredSha256: sha, computedSha256: computed(sha) });
      expect(sha256(await readAll(await storage.openRead(key)))).toBe(sha);
    });

    it('takes one PUT larger than a multipart part (S3 allows 5 GiB in one PUT)', async () => {
      const large = bytesOf('large-single', 12 * MiB + 1);
      const largeSha = sha256(large);
      const largeKey = artifactStorageKey('web', largeSha);
      const res = await send(await storage.presignPut(largeKey, { sha256: largeSha, expiresInSecs: 60 }), large);
      expect(res.status, res.text).toBe(200);
      expect(await storage.head(largeKey)).toMatchObject({ sizeBytes: large.length, declaredSha256: largeSha });
      await storage.delete(largeKey);
    });

    it('serves the bytes through a presigned GET', async () => {
      const get = await storage.presignGet(key, { expiresInSecs: 60 });
      expect(get.method).toBe('GET');
      const res = await fetch(get.url, { headers: get.headers });
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha);
    });

    it('refuses a PUT without the sha256 header, storing nothing', async () => {
      const other = bytesOf('no-header', 10 * KiB);
      const otherKey = artifactStorageKey('web', sha256(other));
      const put = await storage.presignPut(otherKey, { sha256: sha256(other), expiresInSecs: 60 });
      const { 'x-amz-meta-sha256': _dropped, ...withoutSha } = put.headers;
      const res = await send(put, other, withoutSha);
      // fs: 400 bad_request from the driver; S3: 403, the header is part of the signature.
      expect([400, 403]).toContain(res.status);
      expect(await storage.head(otherKey)).toBeNull();
    });

    it('deletes: head null, openRead not_found, GET 404, delete again fine', async () => {
      await storage.delete(key);
      await storage.delete(key);
      expect(await storage.head(key)).toBeNull();
      await expect(storage.openRead(key)).rejects.toMatchObject({ code: 'not_found' });
      const res = await fetch((await storage.presignGet(key, { expiresInSecs: 60 })).url);
      expect(res.status).toBe(404);
    });
  });

  describe('multipart', () => {
    // Two full-size parts and a short last one: 5 + 5 + 1 MiB on S3, 64 + 64 + 10 KiB on fs.
    const partsOf = (seed: string) => [
      bytesOf(`${seed}:1`, started.minPartBytes),
      bytesOf(`${seed}:2`, started.minPartBytes),
      bytesOf(`${seed}:3`, Math.max(10 * KiB, started.minPartBytes / 5)),
    ];

    it('assembles parts uploaded through presigned URLs into the object', async () => {
      const parts = partsOf('whole');
      const whole = Buffer.concat(parts);
      const key = artifactStorageKey('web', sha256(whole));
      const { uploadId } = await storage.createMultipart(key, { sha256: sha256(whole) });
      // Out of order on purpose: the CLI uploads parts in parallel.
      const etags: string[] = [];
      for (const i of [2, 0, 1]) etags[i] = await uploadPart(key, uploadId, i + 1, parts[i]!);
      expect(await storage.head(key)).toBeNull();
      await storage.completeMultipart(key, { uploadId, parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) });
      expect(await storage.head(key)).toEqual({ sizeBytes: whole.length, declaredSha256: sha256(whole), computedSha256: computed(sha256(whole)) });
      expect(sha256(await readAll(await storage.openRead(key)))).toBe(sha256(whole));
      // Completed: the upload id is spent.
      await expect(storage.completeMultipart(key, { uploadId, parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) })).rejects.toMatchObject({ code: 'not_found' });
      await storage.delete(key);
    });

    it('refuses a wrong ETag with bad_request, stores nothing, and keeps the upload open', async () => {
      const parts = partsOf('etag');
      const whole = Buffer.concat(parts);
      const key = artifactStorageKey('web', sha256(whole));
      const { uploadId } = await storage.createMultipart(key, { sha256: sha256(whole) });
      const etags = [];
      for (const [i, p] of parts.entries()) etags.push(await uploadPart(key, uploadId, i + 1, p));
      const wrong = etags.map((etag, i) => ({ partNumber: i + 1, etag: i === 1 ? `"${'0'.repeat(32)}"` : etag }));
      await expect(storage.completeMultipart(key, { uploadId, parts: wrong })).rejects.toMatchObject({ code: 'bad_request' });
      expect(await storage.head(key)).toBeNull();
      // As on S3, a refused completion leaves the upload usable: the right list still works.
      await storage.completeMultipart(key, { uploadId, parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) });
      expect((await storage.head(key))?.sizeBytes).toBe(whole.length);
      await storage.delete(key);
    });

    it('refuses missing parts, gaps, disorder and short middle parts with bad_request', async () => {
      const key = 'multipart/refusals/app.tar.gz';
      const { uploadId } = await storage.createMultipart(key, { sha256: 'a'.repeat(64) });
      const small = [bytesOf('s1', 2 * KiB), bytesOf('s2', 2 * KiB)];
      const e1 = await uploadPart(key, uploadId, 1, small[0]!);
      const e2 = await uploadPart(key, uploadId, 2, small[1]!);
      const lists = [
        [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }, { partNumber: 3, etag: e2 }], // 3 never uploaded
        [{ partNumber: 1, etag: e1 }, { partNumber: 3, etag: e2 }], // gap
        [{ partNumber: 2, etag: e2 }, { partNumber: 1, etag: e1 }], // disorder
        [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }], // part 1 below the minimum
        [],
      ];
      for (const parts of lists) {
        await expect(storage.completeMultipart(key, { uploadId, parts }), JSON.stringify(parts)).rejects.toMatchObject({ code: 'bad_request' });
      }
      expect(await storage.head(key)).toBeNull();
      await storage.abortMultipart(key, { uploadId });
    });

    it('answers not_found for unknown upload ids', async () => {
      const parts = [{ partNumber: 1, etag: `"${'1'.repeat(32)}"` }];
      for (const uploadId of ['0'.repeat(32), 'no-such-upload']) {
        await expect(storage.completeMultipart('multipart/unknown', { uploadId, parts })).rejects.toMatchObject({ code: 'not_found' });
        await storage.abortMultipart('multipart/unknown', { uploadId }); // unknown is fine
      }
    });

    it('abort discards the upload: complete is not_found, part PUTs 404, abort again fine', async () => {
      const key = 'multipart/aborted/app.tar.gz';
      const { uploadId } = await storage.createMultipart(key, { sha256: 'b'.repeat(64) });
      const etag = await uploadPart(key, uploadId, 1, bytesOf('ab', 4 * KiB));
      await storage.abortMultipart(key, { uploadId });
      await expect(storage.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag }] })).rejects.toMatchObject({ code: 'not_found' });
      const late = await send(await storage.presignPart(key, { uploadId, partNumber: 2, expiresInSecs: 60 }), bytesOf('late', KiB));
      expect(late.status).toBe(404);
      await storage.abortMultipart(key, { uploadId });
      expect(await storage.head(key)).toBeNull();
    });

    it('refuses bad arguments before any request', async () => {
      await expect(storage.createMultipart('a/b', { sha256: 'nope' })).rejects.toMatchObject({ code: 'bad_request' });
      await expect(storage.createMultipart('../x', { sha256: 'a'.repeat(64) })).rejects.toMatchObject({ code: 'bad_request' });
      for (const partNumber of [0, 10_001, 1.5]) {
        await expect(storage.presignPart('a/b', { uploadId: '0'.repeat(32), partNumber, expiresInSecs: 60 })).rejects.toMatchObject({ code: 'bad_request' });
      }
      await expect(storage.presignPart('a/b', { uploadId: '', partNumber: 1, expiresInSecs: 60 })).rejects.toMatchObject({ code: 'bad_request' });
      await expect(storage.presignGet('a/b', { expiresInSecs: 7 * 24 * 3600 + 1 })).rejects.toMatchObject({ code: 'bad_request' });
    });
  });
});
