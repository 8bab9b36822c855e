import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { artifactStorageKey } from '../../server/contract/digest';
import { createFsStorage, type FsStorage } from '../../server/storage/fs.driver';
import { serveWeb, type WebServer } from '../support/web-server';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

let root: string;
let server: WebServer;
let storage: FsStorage;
let clockOffset = 0; // seconds added to the real clock, to presign URLs that are already expired
const internalErrors: unknown[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'aether-fs-storage-'));
  // The base URL is only known once the server listens; the handler resolves storage lazily.
  server = await serveWeb((req) => storage.handleRequest(req));
  storage = createFsStorage({
    rootDir: root,
    baseUrl: server.url,
    secret: randomBytes(32),
    maxObjectBytes: 6 * MiB,
    now: () => Math.floor(Date.now() / 1000) + clockOffset,
    onInternalError: (err) => internalErrors.push(err),
  });
});

// Every refusal here is the client's fault: none may surface as a 500.
afterEach(() => {
  expect(internalErrors).toEqual([]);
});

afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

/** Deterministic pseudo-random chunks, so the sha256 is known without holding the body. */
function chunkAt(seed: string, i: number, size = CHUNK): Buffer {
  const block = createHash('sha256').update(`${seed}:${i}`).digest();
  return Buffer.alloc(size, block);
}

function shaOf(seed: string, chunks: number): string {
  const h = createHash('sha256');
  for (let i = 0; i < chunks; i++) h.update(chunkAt(seed, i));
  return h.digest('hex');
}

/** A streamed request body (no Content-Length, chunked), with a hook before each chunk. */
function streamBody(seed: string, chunks: number, beforeChunk?: (i: number) => Promise<void>): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i === chunks) return controller.close();
      await beforeChunk?.(i);
      controller.enqueue(chunkAt(seed, i++));
    },
  });
}

function put(url: string, headers: Record<string, string>, body: BodyInit | Buffer, signal?: AbortSignal): Promise<Response> {
  // duplex: 'half' is what undici requires to send a stream body; TS's RequestInit lacks it.
  return fetch(url, { method: 'PUT', headers, body: body as BodyInit, signal, duplex: 'half' } as RequestInit);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1));
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('fs storage over HTTP', () => {
  const seed = 'big';
  const chunks = (5 * MiB) / CHUNK;
  const sha = shaOf(seed, chunks);
  const key = artifactStorageKey('web', sha);

  it('stores a streamed multi-MB upload and records both digests', async () => {
    const presigned = await storage.presignPut(key, { sha256: sha, expiresInSecs: 60 });
    expect(presigned.method).toBe('PUT');
    expect(presigned.headers).toEqual({ 'content-type': 'application/gzip', 'x-amz-meta-sha256': sha });
    const res = await put(presigned.url, presigned.headers, streamBody(seed, chunks));
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${sha}"`);
    expect(await res.text()).toBe('');
    expect(await storage.head(key)).toEqual({ sizeBytes: 5 * MiB, declaredSha256: sha, computedSha256: sha });
    expect((await filesUnder(root)).sort()).toEqual([`artifacts/web/${sha}/app.tar.gz`, `artifacts/web/${sha}/app.tar.gz.meta.json`]);
  });

  it('serves the same bytes back through a presigned GET', async () => {
    const presigned = await storage.presignGet(key, { expiresInSecs: 60 });
    const res = await fetch(presigned.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-length')).toBe(String(5 * MiB));
    const body = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(body).digest('hex')).toBe(sha);
    const viaDriver = createHash('sha256');
    for await (const chunk of await storage.openRead(key)) viaDriver.update(chunk as Buffer);
    expect(viaDriver.digest('hex')).toBe(sha);
  });

  it('replaces an object on a second PUT of the same key', async () => {
    const presigned = await storage.presignPut(key, { sha256: sha, expiresInSecs: 60 });
    expect((await put(presigned.url, presigned.headers, streamBody(seed, chunks))).status).toBe(200);
    expect((await storage.head(key))?.sizeBytes).toBe(5 * MiB);
  });

  it('deletes the object and its sidecar', async () => {
    await storage.delete(key);
    await storage.delete(key); // absent is fine
    expect(await storage.head(key)).toBeNull();
    await expect(storage.openRead(key)).rejects.toMatchObject({ code: 'not_found' });
    const res = await fetch((await storage.presignGet(key, { expiresInSecs: 60 })).url);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: 'not_found', message: 'object not found' });
    expect(await filesUnder(root)).toEqual([]);
  });
});

describe('fs storage refuses', () => {
  it('bytes that do not match the signed sha256, leaving nothing behind', async () => {
    const sha = shaOf('expected', 32);
    const key = artifactStorageKey('web', sha);
    const presigned = await storage.presignPut(key, { sha256: sha, expiresInSecs: 60 });
    const res = await put(presigned.url, presigned.headers, streamBody('other', 32));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'digest_mismatch' });
    expect(await storage.head(key)).toBeNull();
    expect(await filesUnder(root)).toEqual([]);
  });

  it('an x-amz-meta-sha256 header that differs from the signed one', async () => {
    const sha = shaOf('hdr', 1);
    const presigned = await storage.presignPut(artifactStorageKey('web', sha), { sha256: sha, expiresInSecs: 60 });
    const res = await put(presigned.url, { ...presigned.headers, 'x-amz-meta-sha256': 'b'.repeat(64) }, chunkAt('hdr', 0));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'bad_request' });
  });

  it('an expired URL with 403', async () => {
    const sha = shaOf('late', 1);
    clockOffset = -3600;
    const presigned = await storage.presignPut(artifactStorageKey('web', sha), { sha256: sha, expiresInSecs: 60 });
    clockOffset = 0;
    const res = await put(presigned.url, presigned.headers, chunkAt('late', 0));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ code: 'forbidden', message: 'URL expired' });
  });

  it('a tampered signature with 403', async () => {
    const sha = shaOf('sig', 1);
    const presigned = await storage.presignPut(artifactStorageKey('web', sha), { sha256: sha, expiresInSecs: 60 });
    const url = new URL(presigned.url);
    const sig = url.searchParams.get('signature') ?? '';
    url.searchParams.set('signature', (sig[0] === '0' ? '1' : '0') + sig.slice(1));
    const res = await put(url.toString(), presigned.headers, chunkAt('sig', 0));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ code: 'forbidden', message: 'signature does not match' });
  });

  it('a GET URL used for a PUT with 403', async () => {
    const presigned = await storage.presignGet('a/b', { expiresInSecs: 60 });
    const res = await put(presigned.url, {}, 'x');
    expect(res.status).toBe(403);
  });

  it('a streamed upload over maxObjectBytes with 413, storing nothing', async () => {
    const chunks = (7 * MiB) / CHUNK;
    const sha = shaOf('huge', chunks);
    const key = artifactStorageKey('web', sha);
    const presigned = await storage.presignPut(key, { sha256: sha, expiresInSecs: 60 });
    const res = await put(presigned.url, presigned.headers, streamBody('huge', chunks));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'payload_too_large' });
    expect(await storage.head(key)).toBeNull();
    await waitFor(async () => (await filesUnder(root)).length === 0, 'temp file removal');
  });

  it('a declared Content-Length over maxObjectBytes before reading the body', async () => {
    const body = Buffer.alloc(6 * MiB + 1);
    const sha = createHash('sha256').update(body).digest('hex');
    const presigned = await storage.presignPut(artifactStorageKey('web', sha), { sha256: sha, expiresInSecs: 60 });
    const res = await put(presigned.url, presigned.headers, body);
    expect(res.status).toBe(413);
    expect(await filesUnder(root)).toEqual([]);
  });

  it('a key whose path runs through another object with 409', async () => {
    const sha = shaOf('file', 1);
    const first = await storage.presignPut('collide/x', { sha256: sha, expiresInSecs: 60 });
    expect((await put(first.url, first.headers, chunkAt('file', 0))).status).toBe(200);
    const second = await storage.presignPut('collide/x/y', { sha256: sha, expiresInSecs: 60 });
    const res = await put(second.url, second.headers, chunkAt('file', 0));
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'conflict' });
    await storage.delete('collide/x');
    expect(await filesUnder(root)).toEqual([]);
  });

  it('keys that do not map safely onto files', async () => {
    const sha = 'c'.repeat(64);
    await expect(storage.presignPut('../escape', { sha256: sha, expiresInSecs: 60 })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(storage.presignPut('a/x.meta.json', { sha256: sha, expiresInSecs: 60 })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(storage.presignGet('a', { expiresInSecs: 0 })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(storage.head('/etc/passwd')).rejects.toMatchObject({ code: 'bad_request' });
  });
});

describe('fs storage when the client disconnects mid-upload', () => {
  it('leaves no object and no temp file', async () => {
    const chunks = (4 * MiB) / CHUNK;
    const sha = shaOf('gone', chunks);
    const key = artifactStorageKey('web', sha);
    const presigned = await storage.presignPut(key, { sha256: sha, expiresInSecs: 60 });
    const aborter = new AbortController();
    let sawTemp = false;
    const body = streamBody('gone', chunks, async (i) => {
      if (i < 8) return;
      // Abort only once the server is provably writing a temp file, so the test cannot pass vacuously.
      await waitFor(async () => (await filesUnder(root)).some((f) => f.endsWith('.partial')), 'temp file');
      sawTemp = true;
      aborter.abort();
      await new Promise(() => undefined); // the stream never finishes on its own
    });
    await expect(put(presigned.url, presigned.headers, body, aborter.signal)).rejects.toThrow();
    expect(sawTemp).toBe(true);
    await waitFor(async () => (await filesUnder(root)).length === 0, 'temp file removal');
    expect(await storage.head(key)).toBeNull();
  });
});

describe('fs storage sweep of abandoned temp files', () => {
  it('deletes .partial files idle past the limit, keeps fresh ones and every stored object', async () => {
    const { mkdir, utimes, writeFile } = await import('node:fs/promises');
    const sha = shaOf('kept', 1);
    const key = artifactStorageKey('sweep', sha);
    const presigned = await storage.presignPut(key, { sha256: sha, expiresInSecs: 60 });
    expect((await put(presigned.url, presigned.headers, streamBody('kept', 1))).status).toBe(200);
    // What a process killed mid-upload leaves: a temp file beside the object, and one in a part dir.
    const dir = join(root, 'artifacts', 'sweep', sha);
    const stale = [join(dir, 'app.tar.gz.0b5c.partial'), join(root, '.multipart', 'u1', '1.77aa.partial')];
    const fresh = join(dir, 'app.tar.gz.9f1e.partial');
    await mkdir(join(root, '.multipart', 'u1'), { recursive: true });
    for (const f of [...stale, fresh]) await writeFile(f, 'half an upload');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    for (const f of stale) await utimes(f, twoHoursAgo, twoHoursAgo);

    expect(await storage.sweepPartials(3600_000)).toBe(2);
    const left = await filesUnder(root);
    expect(left.filter((f) => f.endsWith('.partial'))).toEqual([fresh.slice(root.length + 1)]);
    expect(await storage.head(key)).toMatchObject({ sizeBytes: CHUNK, computedSha256: sha });
    await rm(fresh);
    await storage.delete(key);
  });
});
