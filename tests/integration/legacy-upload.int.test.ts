import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applications, artifacts } from '../../db/schema';
import { artifactStorageKey } from '../../server/contract/digest';
import { uploadSemaphore } from '../../server/http/legacy-upload';
import { LEGACY_UPLOAD_DIR } from '../../server/services/artifacts/legacy-upload.service';
import { generateSigningKeyPair, signDigest } from '../../server/contract/ed25519';
import { startStoreFor, type TestS3 } from '../support/s3';
import { drivers, type StartedDriver } from '../support/storage-drivers';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';

/**
 * The deprecated direct upload `POST /artifacts`, over real HTTP on real PostgreSQL, Redis and
 * workers, against both storage drivers: what it stores, what it refuses (and that a refusal
 * leaves no row, object or temp file), duplicates, and the concurrency limit.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
// Small sizes: fauxqs keeps bodies in memory, and the same sizes run on both drivers.
const LIMIT = 8 * MiB;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function* slices(b: Buffer, size = 64 * KiB): Generator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** A body that sends `head`, then stays open (neither ending nor sending) until `release()`. */
function hangingBody(head: Buffer) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  async function* chunks() {
    yield* slices(head);
    await released;
  }
  return { chunks: chunks(), release };
}

interface UploadOpts {
  token?: string | null;
  digest?: string | null;
  signature?: string;
  app?: string | null;
  appHeader?: string;
  contentType?: string;
  signal?: AbortSignal;
}

interface UploadAnswer {
  status: number;
  body: Record<string, unknown>;
  deprecated: string | null;
}

/** POSTs a streamed body (chunked, no Content-Length), as a client uploading a file it does not hold in memory. */
async function upload(plane: TestPlane, body: Buffer | AsyncIterable<Buffer>, opts: UploadOpts = {}): Promise<UploadAnswer> {
  const query = opts.app === null ? '' : `?app_name=${encodeURIComponent(opts.app ?? 'web')}`;
  const digest = opts.digest === undefined ? (Buffer.isBuffer(body) ? sha256(body) : null) : opts.digest;
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/gzip' };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKENS.deployer}`;
  if (digest !== null) headers['x-aether-artifact-digest'] = digest;
  if (opts.signature !== undefined) headers['x-aether-signature'] = opts.signature;
  if (opts.appHeader !== undefined) headers['x-aether-app'] = opts.appHeader;
  const stream = Readable.toWeb(Readable.from(Buffer.isBuffer(body) ? slices(body) : body)) as unknown as ReadableStream<Uint8Array>;
  // duplex: 'half' is what undici requires to send a stream body; TS's RequestInit lacks it.
  const res = await fetch(`${plane.url}/artifacts${query}`, { method: 'POST', headers, body: stream, signal: opts.signal, duplex: 'half' } as RequestInit);
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, deprecated: res.headers.get('x-aether-deprecated') };
}

/** The same POST with a Content-Length that announces `announced` bytes (then sends only a few). */
function uploadAnnounced(plane: TestPlane, digest: string, announced: number): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${plane.url}/artifacts?app_name=web`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.deployer}`, 'x-aether-artifact-digest': digest, 'content-length': String(announced) },
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
      });
    });
    req.once('error', reject);
    req.write(randomBytes(64 * KiB));
  });
}

async function counter(plane: TestPlane, name: 'artifactLegacyUploads' | 'artifactUploadBytes' | 'artifactUploadsInProgress'): Promise<number> {
  return (await plane.services.metrics[name].get()).values[0]?.value ?? 0;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function waitFor(check: () => Promise<boolean> | boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** No row, no object and no spooled file for this digest: what every refusal must leave. */
async function expectNothingLeft(plane: TestPlane, digest: string, app = 'web'): Promise<void> {
  const rows = await plane.services.db
    .select({ id: artifacts.id })
    .from(artifacts)
    .innerJoin(applications, eq(applications.id, artifacts.appId))
    .where(and(eq(applications.name, app), eq(artifacts.digest, digest)));
  expect(rows, `rows for ${digest.slice(0, 8)}`).toEqual([]);
  expect(await plane.services.storage.head(artifactStorageKey(app, digest))).toBeNull();
  // The spooled body goes whatever happened; the fs driver leaves no .partial either.
  await waitFor(async () => (await filesUnder(path.join(plane.dataDir, LEGACY_UPLOAD_DIR))).length === 0, 'the temp files to go');
  expect((await filesUnder(path.join(plane.dataDir, 'objects'))).filter((f) => f.endsWith('.partial'))).toEqual([]);
}

describe.each(['fs', 's3'] as const)('POST /artifacts (legacy upload) on %s storage', (storage) => {
  let s3: TestS3 | null = null;
  let plane: TestPlane;

  beforeAll(async () => {
    s3 = await startStoreFor(storage);
    plane = await startTestPlane('postgres', { ...s3?.env, AETHER_MAX_ARTIFACT_SIZE_BYTES: String(LIMIT) });
    plane.startWorkers();
    await plane.caller('deployer').apps.create({ name: 'web' });
  });
  afterAll(async () => {
    await plane?.close();
    await s3?.stop();
    vi.unstubAllEnvs();
  });

  const bytes = randomBytes(5 * MiB + 123);
  const digest = sha256(bytes);
  const key = artifactStorageKey('web', digest);

  it('stores a streamed multi-MB body and answers once verification settled', async () => {
    const before = { requests: await counter(plane, 'artifactLegacyUploads'), bytes: await counter(plane, 'artifactUploadBytes') };
    const res = await upload(plane, bytes);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ artifact_url: key, digest, duplicate: false, app_linked: true, verified: false, status: 'stored', failure_reason: null });
    expect(res.deprecated).toBe('true');
    expect(await plane.services.storage.head(key)).toEqual({ sizeBytes: bytes.length, declaredSha256: digest, computedSha256: storage === 'fs' ? digest : null });
    const back = createHash('sha256');
    for await (const c of await plane.services.storage.openRead(key)) back.update(c as Buffer);
    expect(back.digest('hex')).toBe(digest);
    expect(await plane.caller('reader').artifacts.get({ app_name: 'web', digest })).toMatchObject({ status: 'stored', size_bytes: bytes.length });
    expect(await filesUnder(path.join(plane.dataDir, LEGACY_UPLOAD_DIR))).toEqual([]);
    expect(await counter(plane, 'artifactLegacyUploads')).toBe(before.requests + 1);
    expect(await counter(plane, 'artifactUploadBytes')).toBe(before.bytes + bytes.length);
  });

  it('answers a stored digest as a duplicate without reading (or rewriting) the body', async () => {
    const puts = () => s3?.requests.filter((r) => r.method === 'PUT').length ?? 0;
    const meta = () => (storage === 'fs' ? readFile(path.join(plane.dataDir, 'objects', `${key}.meta.json`), 'utf8') : Promise.resolve(''));
    const [putsBefore, metaBefore, bytesBefore] = [puts(), await meta(), await counter(plane, 'artifactUploadBytes')];
    // The body never ends: an answer proves it was not needed.
    const body = hangingBody(bytes.subarray(0, 256 * KiB));
    try {
      const res = await upload(plane, body.chunks, { digest });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ artifact_url: key, digest, duplicate: true, verified: false, status: 'stored' });
      expect(res.deprecated).toBe('true');
    } finally {
      body.release();
    }
    expect([puts(), await meta(), await counter(plane, 'artifactUploadBytes')]).toEqual([putsBefore, metaBefore, bytesBefore]);
  });

  it('verifies a signature by a registered key (verified: true), and fails one by another key', async () => {
    await plane.caller('deployer').apps.create({ name: 'signed' });
    const key1 = generateSigningKeyPair();
    await plane.caller('admin').keys.add({ app_name: 'signed', public_key_hex: key1.publicKeyHex });

    const good = randomBytes(2 * MiB);
    const res = await upload(plane, good, { app: 'signed', signature: signDigest(key1.privateSeedHex, sha256(good)) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ digest: sha256(good), duplicate: false, verified: true, status: 'stored' });

    // The app-name header instead of the query, and an uppercase signature (hex either way).
    const other = randomBytes(MiB);
    const forged = signDigest(generateSigningKeyPair().privateSeedHex, sha256(other)).toUpperCase();
    const bad = await upload(plane, other, { app: null, appHeader: 'signed', signature: forged });
    expect(bad.status).toBe(200);
    expect(bad.body).toMatchObject({ duplicate: false, verified: false, status: 'failed', failure_reason: 'signature_invalid' });
  });

  it('refuses bad input with the exact code, leaving no row, object or temp file', async () => {
    const body = randomBytes(MiB);
    const d = sha256(body);
    const cases: Array<[string, UploadOpts, number, string]> = [
      ['no token', { token: null }, 401, 'unauthorized'],
      ['unknown token', { token: 'nope-nope-nope' }, 401, 'unauthorized'],
      ['reader', { token: TOKENS.reader }, 403, 'forbidden'],
      ['missing digest', { digest: null }, 400, 'missing_digest'],
      ['short digest', { digest: d.slice(1) }, 400, 'invalid_digest'],
      ['uppercase digest', { digest: d.toUpperCase() }, 400, 'invalid_digest'],
      ['signature not hex', { signature: 'zz'.repeat(64) }, 400, 'bad_request'],
      ['signature too short', { signature: 'ab'.repeat(32) }, 400, 'bad_request'],
      ['unknown app', { app: 'ghost' }, 404, 'not_found'],
      ['invalid app name', { app: 'Bad_Name' }, 400, 'bad_request'],
      ['no app', { app: null }, 400, 'bad_request'],
      ['query and header disagree', { appHeader: 'other' }, 400, 'bad_request'],
      ['multipart form', { contentType: 'multipart/form-data; boundary=x' }, 400, 'bad_request'],
      ['digest of other bytes', { digest: sha256(randomBytes(16)) }, 400, 'digest_mismatch'],
    ];
    for (const [what, opts, status, code] of cases) {
      const res = await upload(plane, body, { digest: d, ...opts });
      expect({ what, status: res.status, code: res.body.code }).toEqual({ what, status, code });
      expect(res.deprecated).toBe('true');
      await expectNothingLeft(plane, d);
      if (opts.digest) await expectNothingLeft(plane, opts.digest.toLowerCase());
    }
  });

  it('refuses an oversized body mid-stream with size_exceeded, and an announced one unread', async () => {
    // Past the limit, then the body stays open: the answer must not wait for its end.
    const big = randomBytes(LIMIT + 64 * KiB);
    const body = hangingBody(big);
    try {
      const res = await upload(plane, body.chunks, { digest: sha256(big) });
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'size_exceeded' });
    } finally {
      body.release();
    }
    await expectNothingLeft(plane, sha256(big));

    const announced = await uploadAnnounced(plane, 'c'.repeat(64), LIMIT + 1);
    expect({ status: announced.status, code: announced.body.code }).toEqual({ status: 400, code: 'size_exceeded' });
    await expectNothingLeft(plane, 'c'.repeat(64));
  });

  it('refuses past the app quota with 403 quota_exceeded: by count before the body, by bytes after it', async () => {
    await plane.caller('deployer').apps.create({ name: 'quota' });
    const first = randomBytes(300 * KiB);
    expect((await upload(plane, first, { app: 'quota' })).status).toBe(200);

    await plane.caller('admin').apps.setLimits({ app_name: 'quota', max_artifacts: 1 });
    const second = randomBytes(300 * KiB);
    const byCount = hangingBody(second); // refused without the body
    try {
      const res = await upload(plane, byCount.chunks, { app: 'quota', digest: sha256(second) });
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 403, code: 'quota_exceeded' });
    } finally {
      byCount.release();
    }
    await expectNothingLeft(plane, sha256(second), 'quota');

    // A chunked body's size is known only at its end: refused then, before anything is stored.
    await plane.caller('admin').apps.setLimits({ app_name: 'quota', max_artifacts: null, max_total_bytes: first.length + 100 * KiB });
    const res = await upload(plane, second, { app: 'quota' });
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 403, code: 'quota_exceeded' });
    await expectNothingLeft(plane, sha256(second), 'quota');
  });
});

describe('POST /artifacts concurrency (AETHER_MAX_CONCURRENT_UPLOADS=2)', () => {
  let plane: TestPlane;

  beforeAll(async () => {
    plane = await startTestPlane('postgres', { AETHER_MAX_CONCURRENT_UPLOADS: '2' });
    plane.startWorkers();
    await plane.caller('deployer').apps.create({ name: 'web' });
  });
  afterAll(async () => plane?.close());

  /** ~400 ms of body: 8 chunks of 64 KiB, 50 ms apart. */
  async function* slow(b: Buffer) {
    for (const chunk of slices(b)) {
      await new Promise((r) => setTimeout(r, 50));
      yield chunk;
    }
  }

  it('lets 2 uploads in at a time; the others wait (not refused) and all finish', async () => {
    const semaphore = uploadSemaphore(plane.services);
    const gauge0 = await counter(plane, 'artifactUploadsInProgress');
    const seen = { inUse: 0, gauge: 0, waiting: 0 };
    const sampler = setInterval(() => {
      seen.inUse = Math.max(seen.inUse, semaphore.inUse);
      seen.waiting = Math.max(seen.waiting, semaphore.waiting);
      void counter(plane, 'artifactUploadsInProgress').then((g) => (seen.gauge = Math.max(seen.gauge, g - gauge0)));
    }, 5);
    try {
      const bodies = Array.from({ length: 5 }, () => randomBytes(512 * KiB));
      const answers = await Promise.all(bodies.map((b) => upload(plane, slow(b), { digest: sha256(b) })));
      expect(answers.map((a) => [a.status, a.body.status])).toEqual(Array(5).fill([200, 'stored']));
    } finally {
      clearInterval(sampler);
    }
    expect(seen).toEqual({ inUse: 2, gauge: 2, waiting: 3 });
    expect([semaphore.inUse, semaphore.waiting, await counter(plane, 'artifactUploadsInProgress')]).toEqual([0, 0, gauge0]);
  });

  it('gives the slot back and removes the temp file when the client goes away mid-body', async () => {
    const semaphore = uploadSemaphore(plane.services);
    const gauge0 = await counter(plane, 'artifactUploadsInProgress');
    const big = randomBytes(2 * MiB);
    const body = hangingBody(big.subarray(0, MiB));
    const aborter = new AbortController();
    const answer = upload(plane, body.chunks, { digest: sha256(big), signal: aborter.signal }).catch((err: unknown) => err);
    await waitFor(() => semaphore.inUse === 1, 'the upload to hold a slot');
    aborter.abort();
    expect(await answer).toBeInstanceOf(Error);
    body.release();
    await waitFor(() => semaphore.inUse === 0, 'the slot to be released');
    expect(await counter(plane, 'artifactUploadsInProgress')).toBe(gauge0);
    await expectNothingLeft(plane, sha256(big));
  });

  it('lets a client waiting for a slot leave the queue', async () => {
    const semaphore = uploadSemaphore(plane.services);
    const holders = [hangingBody(randomBytes(64 * KiB)), hangingBody(randomBytes(64 * KiB))];
    const held = holders.map((h) => upload(plane, h.chunks, { digest: 'a'.repeat(64) }));
    await waitFor(() => semaphore.inUse === 2, 'two uploads to hold the slots');
    const aborter = new AbortController();
    const queued = upload(plane, randomBytes(KiB), { signal: aborter.signal }).catch((err: unknown) => err);
    await waitFor(() => semaphore.waiting === 1, 'the third upload to queue');
    aborter.abort();
    expect(await queued).toBeInstanceOf(Error);
    await waitFor(() => semaphore.waiting === 0, 'the queue to empty');
    for (const h of holders) h.release();
    expect((await Promise.all(held)).map((a) => a.body.code)).toEqual(['digest_mismatch', 'digest_mismatch']);
    expect([semaphore.inUse, semaphore.waiting]).toEqual([0, 0]);
  });
});

describe('POST /artifacts storage failures', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane('postgres');
    plane.startWorkers();
    await plane.caller('deployer').apps.create({ name: 'web' });
  });
  afterAll(async () => plane?.close());

  /** Makes the next `n` putObject calls fail as a broken connection would. */
  function failPuts(n: number): { calls: () => number; restore: () => void } {
    const storage = plane.services.storage;
    const real = storage.putObject.bind(storage);
    let calls = 0;
    storage.putObject = async (key, body, opts) => {
      calls += 1;
      if (calls <= n) {
        for await (const _ of body) break; // read a little, as a write that broke off would
        throw new Error('socket hang up');
      }
      return real(key, body, opts);
    };
    return { calls: () => calls, restore: () => void (storage.putObject = real) };
  }

  it('retries a failed write from the spooled file, then stores', async () => {
    const fault = failPuts(2);
    try {
      const body = randomBytes(MiB);
      const res = await upload(plane, body);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ status: 'stored', duplicate: false });
      expect(fault.calls()).toBe(3);
    } finally {
      fault.restore();
    }
  });

  it('answers 503 after three failed writes, leaving no object or temp file (the pending row is GC-able)', async () => {
    const fault = failPuts(3);
    const body = randomBytes(MiB);
    try {
      const res = await upload(plane, body);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'service_unavailable' });
    } finally {
      fault.restore();
    }
    expect(await plane.services.storage.head(artifactStorageKey('web', sha256(body)))).toBeNull();
    expect(await filesUnder(path.join(plane.dataDir, LEGACY_UPLOAD_DIR))).toEqual([]);
    expect(await plane.caller('reader').artifacts.get({ app_name: 'web', digest: sha256(body) })).toMatchObject({ status: 'pending' });
    // The same upload again succeeds: the pending row is reset, as a new presign would.
    expect((await upload(plane, body)).body).toMatchObject({ status: 'stored', duplicate: false });
  });
});

describe.each(drivers)('storage putObject: $name driver', (factory) => {
  let started: StartedDriver;
  beforeAll(async () => {
    started = await factory.start();
  });
  afterAll(async () => started?.close());

  it('stores a stream under the key as a presigned PUT would, and replaces it whole', async () => {
    const key = 'legacy/put/app.tar.gz';
    for (const body of [randomBytes(3 * MiB + 7), randomBytes(100 * KiB)]) {
      await started.driver.putObject(key, Readable.from(slices(body)), { sha256: sha256(body), sizeBytes: body.length });
      expect(await started.driver.head(key)).toEqual({ sizeBytes: body.length, declaredSha256: sha256(body), computedSha256: factory.name === 'fs' ? sha256(body) : null });
      const back = createHash('sha256');
      for await (const c of await started.driver.openRead(key)) back.update(c as Buffer);
      expect(back.digest('hex')).toBe(sha256(body));
    }
    await started.driver.delete(key);
    expect(started.internalErrors).toEqual([]);
  });

  it('refuses a body shorter or longer than declared, and (fs) bytes of another sha256, storing nothing', async () => {
    const key = 'legacy/refused/app.tar.gz';
    const body = randomBytes(256 * KiB);
    for (const sizeBytes of [body.length + 1, body.length - 1]) {
      await expect(started.driver.putObject(key, Readable.from(slices(body)), { sha256: sha256(body), sizeBytes })).rejects.toMatchObject({ code: 'bad_request' });
    }
    if (factory.name === 'fs') {
      await expect(started.driver.putObject(key, Readable.from(slices(body)), { sha256: 'e'.repeat(64), sizeBytes: body.length })).rejects.toMatchObject({ code: 'digest_mismatch' });
    }
    await expect(started.driver.putObject(key, Readable.from([]), { sha256: 'nope', sizeBytes: 0 })).rejects.toMatchObject({ code: 'bad_request' });
    expect(await started.driver.head(key)).toBeNull();
  });
});
