import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFsStorage, type FsStorage } from '../../server/storage/fs.driver';
import type { PresignedRequest } from '../../server/storage/port';
import { serveWeb, type WebServer } from '../support/web-server';

/** fs-only multipart behaviour: files on disk, the default 5 MiB rule, and hostile input. */

const KiB = 1024;
const MiB = 1024 * KiB;

let root: string;
let server: WebServer;
let storage: FsStorage; // default minPartBytes: S3's 5 MiB
let small: FsStorage; // 1 KiB parts, same root and server
const internalErrors: unknown[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'aether-fs-multipart-'));
  server = await serveWeb((req) => storage.handleRequest(req));
  const common = { rootDir: root, baseUrl: server.url, secret: randomBytes(32), maxObjectBytes: 12 * MiB, onInternalError: (e: unknown) => internalErrors.push(e) };
  storage = createFsStorage(common);
  small = createFsStorage({ ...common, minPartBytes: KiB });
});
afterEach(() => {
  expect(internalErrors).toEqual([]);
});
afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1)).sort();
}

async function put(p: PresignedRequest, body: Buffer): Promise<Response> {
  return fetch(p.url, { method: p.method, headers: p.headers, body: new Uint8Array(body) });
}

async function part(s: FsStorage, key: string, uploadId: string, n: number, body: Buffer): Promise<string> {
  const res = await put(await s.presignPart(key, { uploadId, partNumber: n, expiresInSecs: 60 }), body);
  expect(res.status).toBe(200);
  return res.headers.get('etag')!;
}

describe('fs multipart', () => {
  it('keeps parts under .multipart/<uploadId>/ with their md5 as ETag, and removes them on completion', async () => {
    const a = randomBytes(2 * KiB);
    const b = randomBytes(100);
    const key = 'mp/layout/app.tar.gz';
    const { uploadId } = await small.createMultipart(key, { sha256: sha256(Buffer.concat([a, b])) });
    expect(uploadId).toMatch(/^[0-9a-f]{32}$/);
    const e1 = await part(small, key, uploadId, 1, a);
    const e2 = await part(small, key, uploadId, 2, b);
    expect(e1).toBe(`"${createHash('md5').update(a).digest('hex')}"`);
    const md5s = [e1, e2].map((e) => e.replaceAll('"', ''));
    expect(await filesUnder(root)).toEqual([`.multipart/${uploadId}/1.${md5s[0]}`, `.multipart/${uploadId}/2.${md5s[1]}`, `.multipart/${uploadId}/upload.json`]);
    // Unquoted ETags are accepted too (JSON clients often strip the quotes).
    await small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag: md5s[0]! }, { partNumber: 2, etag: e2 }] });
    expect(await filesUnder(root)).toEqual([key, `${key}.meta.json`]);
    await small.delete(key);
  });

  it('enforces S3 5 MiB minimum by default, naming the part', async () => {
    const key = 'mp/min/app.tar.gz';
    const { uploadId } = await storage.createMultipart(key, { sha256: 'a'.repeat(64) });
    const parts = [{ partNumber: 1, etag: await part(storage, key, uploadId, 1, randomBytes(KiB)) }, { partNumber: 2, etag: await part(storage, key, uploadId, 2, randomBytes(KiB)) }];
    await expect(storage.completeMultipart(key, { uploadId, parts })).rejects.toMatchObject({
      code: 'bad_request',
      message: `part 1 is ${KiB} bytes; every part but the last must be at least ${5 * MiB}`,
    });
    await storage.abortMultipart(key, { uploadId });
    expect(await filesUnder(root)).toEqual([]);
  });

  it('a re-uploaded part replaces the earlier one: its old ETag no longer completes', async () => {
    const key = 'mp/replace/app.tar.gz';
    const second = randomBytes(KiB);
    const { uploadId } = await small.createMultipart(key, { sha256: sha256(second) });
    const old = await part(small, key, uploadId, 1, randomBytes(KiB));
    const fresh = await part(small, key, uploadId, 1, second);
    await expect(small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag: old }] })).rejects.toMatchObject({
      code: 'bad_request',
      message: 'part 1: ETag does not match the uploaded part',
    });
    await small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag: fresh }] });
    expect(await small.head(key)).toEqual({ sizeBytes: KiB, declaredSha256: sha256(second), computedSha256: sha256(second) });
    await small.delete(key);
  });

  it('refuses assembled bytes that miss the declared sha256, storing nothing and keeping the upload', async () => {
    const key = 'mp/mismatch/app.tar.gz';
    const { uploadId } = await small.createMultipart(key, { sha256: 'c'.repeat(64) });
    const etag = await part(small, key, uploadId, 1, randomBytes(KiB));
    await expect(small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag }] })).rejects.toMatchObject({ code: 'digest_mismatch' });
    expect(await small.head(key)).toBeNull();
    expect((await filesUnder(root)).every((f) => f.startsWith(`.multipart/${uploadId}/`))).toBe(true);
    await small.abortMultipart(key, { uploadId });
    expect(await filesUnder(root)).toEqual([]);
  });

  it('binds part URLs to key, upload and part number', async () => {
    const key = 'mp/bound/app.tar.gz';
    const { uploadId } = await small.createMultipart(key, { sha256: 'd'.repeat(64) });
    const p = await small.presignPart(key, { uploadId, partNumber: 1, expiresInSecs: 60 });
    expect(p.headers).toEqual({});
    for (const [param, value] of [['partNumber', '2'], ['uploadId', 'e'.repeat(32)]] as const) {
      const u = new URL(p.url);
      u.searchParams.set(param, value);
      expect((await put({ ...p, url: u.toString() }, randomBytes(10))).status).toBe(403);
    }
    const otherKey = new URL(p.url);
    otherKey.pathname = otherKey.pathname.replace('bound', 'other');
    expect((await put({ ...p, url: otherKey.toString() }, randomBytes(10))).status).toBe(403);
    // The upload belongs to its key: another key cannot complete or abort it.
    await expect(small.completeMultipart('mp/other/app.tar.gz', { uploadId, parts: [{ partNumber: 1, etag: '"x"' }] })).rejects.toMatchObject({ code: 'not_found' });
    await small.abortMultipart('mp/other/app.tar.gz', { uploadId });
    expect(await filesUnder(root)).toContain(`.multipart/${uploadId}/upload.json`);
    await small.abortMultipart(key, { uploadId });
  });

  it('refuses a part over the object limit with 413 and hostile upload ids as unknown', async () => {
    const key = 'mp/hostile/app.tar.gz';
    const { uploadId } = await small.createMultipart(key, { sha256: 'e'.repeat(64) });
    const res = await put(await small.presignPart(key, { uploadId, partNumber: 1, expiresInSecs: 60 }), Buffer.alloc(12 * MiB + 1));
    expect(res.status).toBe(413);
    for (const id of ['../../etc', `../${uploadId}`, uploadId.toUpperCase()]) {
      await expect(small.completeMultipart(key, { uploadId: id, parts: [{ partNumber: 1, etag: '"x"' }] })).rejects.toMatchObject({ code: 'not_found' });
      await small.abortMultipart(key, { uploadId: id });
    }
    expect(await filesUnder(root)).toEqual([`.multipart/${uploadId}/upload.json`]);
    await small.abortMultipart(key, { uploadId });
    await expect(small.presignPut('.multipart/x', { sha256: 'a'.repeat(64), expiresInSecs: 60 })).rejects.toMatchObject({ code: 'bad_request' });
  });
});

async function readObject(s: FsStorage, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await s.openRead(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('fs multipart with a declared part layout', () => {
  const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
  const cut = (body: Buffer, sizes: number[]) => sizes.map((size, i) => body.subarray(sizes.slice(0, i).reduce((a, b) => a + b, 0)).subarray(0, size));

  it('writes parts in place and completes by renaming that file: no copy, nothing left behind', async () => {
    const body = randomBytes(5 * KiB + 100);
    const parts = cut(body, [2 * KiB, 2 * KiB, KiB + 100]);
    const key = 'mp/in-place/app.tar.gz';
    const { uploadId } = await small.createMultipart(key, { sha256: sha256(body), layout: { sizeBytes: body.length, partSizeBytes: 2 * KiB } });
    const etags = new Map<number, string>();
    for (const n of [3, 1, 2]) etags.set(n, await part(small, key, uploadId, n, parts[n - 1]!));
    // A token per write, not an md5: the sha256 at completion checks the bytes.
    const tokens = [1, 2, 3].map((n) => etags.get(n)!.replaceAll('"', ''));
    expect(tokens.every((t) => /^[0-9a-f]{32}$/.test(t))).toBe(true);
    const dir = `.multipart/${uploadId}`;
    expect(await filesUnder(root)).toEqual([...tokens.map((t, i) => `${dir}/${i + 1}.${t}.at`), `${dir}/object.data`, `${dir}/upload.json`]);
    const { ino } = await stat(join(root, dir, 'object.data'));

    await small.completeMultipart(key, { uploadId, parts: [1, 2, 3].map((n) => ({ partNumber: n, etag: etags.get(n)! })) });
    expect(await filesUnder(root)).toEqual([key, `${key}.meta.json`]);
    expect((await stat(join(root, key))).ino).toBe(ino);
    expect(await small.head(key)).toEqual({ sizeBytes: body.length, declaredSha256: sha256(body), computedSha256: sha256(body) });
    expect(await readObject(small, key)).toEqual(body);
    await small.delete(key);
  });

  it('keeps a part that does not fit its slot in a file of its own; a re-upload moves it; a mix assembles', async () => {
    const body = randomBytes(5 * KiB + 100);
    const key = 'mp/mixed/app.tar.gz';
    const { uploadId } = await small.createMultipart(key, { sha256: sha256(body), layout: { sizeBytes: body.length, partSizeBytes: 2 * KiB } });
    const dir = `.multipart/${uploadId}`;
    // Cut 2 KiB then the rest: part 2 is longer than its 2 KiB slot.
    const [first, rest] = cut(body, [2 * KiB, 3 * KiB + 100]);
    const early = await part(small, key, uploadId, 1, first!);
    // Part 1 then arrives cut wrong (3 KiB, its own file), then right again (in place): each replaces the one before.
    await part(small, key, uploadId, 1, body.subarray(0, 3 * KiB));
    expect(await filesUnder(root)).toContain(`${dir}/1.${md5(body.subarray(0, 3 * KiB))}`);
    const e1 = await part(small, key, uploadId, 1, first!);
    expect(e1).not.toBe(early);
    const e2 = await part(small, key, uploadId, 2, rest!);
    expect(await filesUnder(root)).toEqual([`${dir}/1.${e1.replaceAll('"', '')}.at`, `${dir}/2.${md5(rest!)}`, `${dir}/object.data`, `${dir}/upload.json`]);
    await expect(small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag: early }, { partNumber: 2, etag: e2 }] })).rejects.toMatchObject({
      code: 'bad_request',
      message: 'part 1: ETag does not match the uploaded part',
    });

    await small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }] });
    expect(await filesUnder(root)).toEqual([key, `${key}.meta.json`]);
    expect(await readObject(small, key)).toEqual(body);
    await small.delete(key);
  });

  it('refuses in-place bytes that miss the declared sha256, keeping the upload for a corrected part', async () => {
    const body = randomBytes(4 * KiB);
    const parts = cut(body, [2 * KiB, 2 * KiB]);
    const key = 'mp/in-place-mismatch/app.tar.gz';
    const { uploadId } = await small.createMultipart(key, { sha256: sha256(body), layout: { sizeBytes: body.length, partSizeBytes: 2 * KiB } });
    const wrong = await part(small, key, uploadId, 1, randomBytes(2 * KiB));
    const e2 = await part(small, key, uploadId, 2, parts[1]!);
    await expect(small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag: wrong }, { partNumber: 2, etag: e2 }] })).rejects.toMatchObject({ code: 'digest_mismatch' });
    expect(await small.head(key)).toBeNull();

    const e1 = await part(small, key, uploadId, 1, parts[0]!);
    await small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }] });
    expect(await readObject(small, key)).toEqual(body);
    // Completed: the upload is gone, as on S3.
    await expect(small.completeMultipart(key, { uploadId, parts: [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }] })).rejects.toMatchObject({ code: 'not_found' });
    await small.delete(key);
  });

  it('refuses a layout that cannot describe an upload, creating nothing', async () => {
    for (const layout of [{ sizeBytes: 0, partSizeBytes: KiB }, { sizeBytes: KiB, partSizeBytes: 0.5 }, { sizeBytes: 10_001, partSizeBytes: 1 }]) {
      await expect(small.createMultipart('mp/bad-layout/app.tar.gz', { sha256: 'f'.repeat(64), layout })).rejects.toMatchObject({ code: 'bad_request' });
    }
    expect(await filesUnder(root)).toEqual([]);
  });
});
