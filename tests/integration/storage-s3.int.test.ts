import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadEnv } from '../../server/env';
import { AppError } from '../../server/errors';
import { createLogger } from '../../server/logger';
import { createStorage } from '../../server/storage/index';
import { isFsStorage } from '../../server/storage/fs.driver';
import { serveStorage } from '../../server/http/storage';
import { createS3Storage, type S3Storage } from '../../server/storage/s3.driver';
import { isMissingObject, isTransient, withRetry } from '../../server/storage/s3-errors';
import { checkPresigned, startTestS3, type TestS3 } from '../support/s3';

/**
 * What only the S3 driver does: SSE headers, header signing, retries, and boot's driver choice.
 * fauxqs ignores SSE entirely (it neither stores nor echoes it), so SSE is asserted on what the
 * driver presigns and sends, not on what the store did with it.
 */

let s3: TestS3;
const drivers: S3Storage[] = [];
const sha = createHash('sha256').update('body').digest('hex');
const body = Buffer.from('body');

function driver(extra: Partial<Parameters<typeof createS3Storage>[0]> = {}): S3Storage {
  const d = createS3Storage({ bucket: s3.bucket, endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, ...extra });
  drivers.push(d);
  return d;
}

const signedHeadersOf = (url: string) => (new URL(url).searchParams.get('X-Amz-SignedHeaders') ?? '').split(';');

beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => {
  for (const d of drivers) d.close();
  await s3?.stop();
});

describe('s3 presigned PUT', () => {
  it('signs x-amz-meta-sha256 as a header (not the query) and returns it to send', async () => {
    const put = await driver().presignPut('sse/none', { sha256: sha, expiresInSecs: 60 });
    expect(put.headers).toEqual({ 'content-type': 'application/gzip', 'x-amz-meta-sha256': sha });
    expect(signedHeadersOf(put.url)).toEqual(['host', 'x-amz-meta-sha256']);
    expect(new URL(put.url).searchParams.has('x-amz-meta-sha256')).toBe(false);
  });

  it('refuses a changed sha256 header (signature) and an expired URL', async () => {
    const d = driver();
    const put = await d.presignPut('sig/tampered', { sha256: sha, expiresInSecs: 1 });
    const tampered = await fetch(put.url, { method: 'PUT', headers: { ...put.headers, 'x-amz-meta-sha256': 'f'.repeat(64) }, body });
    expect(tampered.status).toBe(403);
    expect(s3.refusals.at(-1)).toMatch(/signature .* does not match/);
    await new Promise((r) => setTimeout(r, 1100));
    const late = await fetch(put.url, { method: 'PUT', headers: put.headers, body });
    expect(late.status).toBe(403);
    expect(s3.refusals.at(-1)).toBe('Request has expired');
    expect(await d.head('sig/tampered')).toBeNull();
  });

  it('with SSE-KMS: SSE headers are returned, signed, and required', async () => {
    const d = driver({ sse: 'aws:kms', kmsKeyId: 'alias/aether' });
    const put = await d.presignPut('sse/kms', { sha256: sha, expiresInSecs: 60 });
    expect(put.headers).toEqual({
      'content-type': 'application/gzip',
      'x-amz-meta-sha256': sha,
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'alias/aether',
    });
    expect(signedHeadersOf(put.url)).toEqual([
      'host',
      'x-amz-meta-sha256',
      'x-amz-server-side-encryption',
      'x-amz-server-side-encryption-aws-kms-key-id',
    ]);
    const { 'x-amz-server-side-encryption': _sse, ...withoutSse } = put.headers;
    expect((await fetch(put.url, { method: 'PUT', headers: withoutSse, body })).status).toBe(403);
    expect((await fetch(put.url, { method: 'PUT', headers: put.headers, body })).status).toBe(200);
    expect(await d.head('sse/kms')).toEqual({ sizeBytes: 4, declaredSha256: sha, computedSha256: null });
  });

  it('with SSE-S3 (AES256): one SSE header, signed', async () => {
    const put = await driver({ sse: 'AES256' }).presignPut('sse/aes', { sha256: sha, expiresInSecs: 60 });
    expect(put.headers['x-amz-server-side-encryption']).toBe('AES256');
    expect(put.headers).not.toHaveProperty('x-amz-server-side-encryption-aws-kms-key-id');
    expect(signedHeadersOf(put.url)).toContain('x-amz-server-side-encryption');
  });

  it('multipart: SSE and the sha256 go on CreateMultipartUpload, never on part URLs', async () => {
    const d = driver({ sse: 'aws:kms', kmsKeyId: 'alias/aether' });
    const { uploadId } = await d.createMultipart('sse/multipart', { sha256: sha });
    const create = s3.requests.filter((r) => r.method === 'POST' && r.url.includes('uploads')).at(-1);
    expect(create?.headers).toMatchObject({
      'x-amz-meta-sha256': sha,
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'alias/aether',
      'content-type': 'application/gzip',
    });
    const part = await d.presignPart('sse/multipart', { uploadId, partNumber: 1, expiresInSecs: 60 });
    expect(part.headers).toEqual({});
    expect(signedHeadersOf(part.url)).toEqual(['host']);
    await d.abortMultipart('sse/multipart', { uploadId });
  });

  it('refuses a KMS key without aws:kms at construction', () => {
    expect(() => createS3Storage({ bucket: 'b', region: 'us-east-1', sse: 'AES256', kmsKeyId: 'k' })).toThrow(/aws:kms/);
  });
});

describe('s3 transient errors', () => {
  const transient = Object.assign(new Error('boom'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
  const final = Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });

  it('retries 3 times with 50, 100, 200 ms backoff, then reports service_unavailable', async () => {
    let calls = 0;
    const started = Date.now();
    const err = await withRetry(async () => {
      calls++;
      throw transient;
    }).catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(340);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'service_unavailable', message: 'object storage is unavailable', cause: transient });
  });

  it('returns once a retry succeeds, and never retries a 4xx', async () => {
    let calls = 0;
    expect(await withRetry(async () => (++calls < 3 ? Promise.reject(transient) : 'ok'), { baseDelayMs: 1 })).toBe('ok');
    calls = 0;
    await expect(withRetry(async () => (calls++, Promise.reject(final)), { baseDelayMs: 1 })).rejects.toBe(final);
    expect(calls).toBe(1);
  });

  it('classifies SDK errors', () => {
    expect(isTransient(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }))).toBe(true);
    expect(isTransient(final)).toBe(false);
    expect(isMissingObject(Object.assign(new Error('x'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }))).toBe(true);
    expect(isMissingObject(Object.assign(new Error('x'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }))).toBe(false);
  });

  it('head on an unreachable store gives up with service_unavailable', async () => {
    const d = driver({ endpoint: 'http://127.0.0.1:9', maxAttempts: 1 });
    await expect(d.head('x/y')).rejects.toMatchObject({ code: 'service_unavailable' });
  });
});

describe('createStorage (boot)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aether-storage-boot-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('picks s3 from the env, serves no URLs itself, and logs no credentials', async () => {
    // Credentials come from the AWS default chain, which reads the process environment itself.
    vi.stubEnv('AWS_ACCESS_KEY_ID', s3.credentials.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.credentials.secretAccessKey);
    const lines: string[] = [];
    const log = createLogger('info', {}, (line) => lines.push(line) > 0);
    const handle = await createStorage(loadEnv({ ...s3.env, AETHER_DATA_DIR: dataDir }), log);
    try {
      expect(handle.driver.kind).toBe('s3');
      expect(isFsStorage(handle.driver)).toBe(false);
      expect(await handle.driver.head('boot/missing')).toBeNull();
      expect(lines.join('')).toContain(s3.bucket);
      expect(lines.join('')).not.toContain(s3.credentials.secretAccessKey);
      expect(lines.join('')).not.toContain(s3.credentials.accessKeyId);
    } finally {
      handle.close();
      vi.unstubAllEnvs();
    }
  });

  it.each(['fs', 'mock'])('picks the fs driver for %s, with its URL handler on the edge', async (mode) => {
    const handle = await createStorage(loadEnv({ AETHER_STORAGE_MODE: mode, AETHER_DATA_DIR: dataDir }), createLogger('error'));
    expect(handle.driver.kind).toBe('fs');
    expect(isFsStorage(handle.driver)).toBe(true);
    const res = await serveStorage({ storage: handle.driver }, new Request('http://127.0.0.1:3000/storage/a/b?method=GET&expires=1&signature=00'));
    expect(res.status).toBe(403);
  });

  it('checks a presigned URL the way S3 does (harness self-check)', async () => {
    const put = await driver().presignPut('self/check', { sha256: sha, expiresInSecs: 60 });
    const u = new URL(put.url);
    const req = { method: 'PUT', url: u.pathname + u.search, headers: { host: u.host, 'x-amz-meta-sha256': sha } };
    expect(checkPresigned(req, s3.credentials.secretAccessKey)).toBeNull();
    expect(checkPresigned({ ...req, method: 'GET' }, s3.credentials.secretAccessKey)).toMatch(/does not match/);
    expect(checkPresigned(req, 'other-secret')).toMatch(/does not match/);
    expect(checkPresigned(req, s3.credentials.secretAccessKey, Date.now() + 61_000)).toBe('Request has expired');
  });
});
