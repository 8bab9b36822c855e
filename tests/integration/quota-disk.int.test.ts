import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { and, eq } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { artifactEvents, artifacts } from '../../db/schema';
import { artifactStorageKey } from '../../server/contract/digest';
import { collectStalePending } from '../../server/services/artifacts/pending-gc.service';
import { sha256 } from '../support/artifacts';
import { callFace, callOk, type FaceResult } from '../support/faces';
import { startTestPlane, type TestPlane } from '../support/harness';
import { startStoreFor, type TestS3 } from '../support/s3';
import { fixedSizeArtifact, stageUpload } from '../support/staged-uploads';

/**
 * Quotas measured on the store itself, on both drivers and real PostgreSQL: presign reserves the
 * declared size, URLs take exactly that size, refused uploads leave storage at once, and a full
 * app under a hundred concurrent oversize uploads holds no more bytes than its quota.
 * The S3 run goes through tests/support/s3.ts's SigV4-checking proxy: it, not fauxqs, refuses a
 * body whose length is not the signed Content-Length, as S3 does.
 */

const MiB = 1024 * 1024;

interface Presigned {
  method: string;
  upload_url: string;
  headers: Record<string, string>;
  storage_key: string;
}

/** A PUT of `body` to a presigned URL; `chunked` sends it without Content-Length. */
async function put(p: Pick<Presigned, 'upload_url' | 'headers'>, body: Buffer, chunked = false): Promise<{ status: number; text: string }> {
  const init: RequestInit & { duplex?: 'half' } = chunked
    ? { method: 'PUT', headers: p.headers, body: new Blob([new Uint8Array(body)]).stream(), duplex: 'half' }
    : { method: 'PUT', headers: p.headers, body: new Uint8Array(body) };
  const res = await fetch(p.upload_url, init);
  return { status: res.status, text: await res.text() };
}

const envelope = (r: FaceResult) => ({ status: r.status, code: r.code, message: r.message });

describe.each(['fs', 's3'] as const)('quotas on the %s store', (storage) => {
  // The fs store hashes on write, so complete verifies; on S3 the full-hash check downloads, in the job.
  const statusAtComplete = storage === 'fs' ? 'stored' : 'verifying';
  let s3: TestS3 | null = null;
  let bucket: S3Client | null = null;
  let plane: TestPlane;

  beforeAll(async () => {
    s3 = await startStoreFor(storage);
    if (s3) bucket = new S3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, forcePathStyle: true });
    // Remote hashing on: S3 computes no sha256, so that is how its verification sees wrong bytes.
    plane = await startTestPlane('postgres', { ...s3?.env, AETHER_VERIFY_REMOTE_HASH: 'true' });
    plane.startWorkers();
  });
  afterAll(async () => {
    await plane?.close();
    bucket?.destroy();
    await s3?.stop();
    vi.unstubAllEnvs();
  });

  /** Bytes of the app's objects in the store, partial writes and parts included (fs sidecars and upload records excluded). */
  async function storedBytes(app: string): Promise<number> {
    if (bucket && s3) {
      let total = 0;
      let token: string | undefined;
      do {
        const page = await bucket.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `artifacts/${app}/`, ContinuationToken: token }));
        for (const o of page.Contents ?? []) total += o.Size ?? 0;
        token = page.NextContinuationToken;
      } while (token);
      return total;
    }
    const root = path.join(plane.dataDir, 'objects');
    const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
    let total = 0;
    for (const e of entries) {
      const file = path.join(e.parentPath, e.name);
      const inApp = file.startsWith(path.join(root, 'artifacts', app) + path.sep) || file.includes(`${path.sep}.multipart${path.sep}`);
      if (!e.isFile() || !inApp || e.name.endsWith('.meta.json') || e.name === 'upload.json') continue;
      total += (await stat(file).catch(() => ({ size: 0 }))).size;
    }
    return total;
  }

  async function partialFiles(): Promise<string[]> {
    const entries = await readdir(path.join(plane.dataDir, 'objects'), { recursive: true }).catch(() => [] as string[]);
    return entries.filter((n) => n.endsWith('.partial'));
  }

  async function appWith(name: string, limits: { max_artifacts?: number; max_total_bytes?: number }) {
    const app = await plane.caller('deployer').apps.create({ name });
    await plane.caller('admin').apps.setLimits({ app_name: name, ...limits });
    return app;
  }

  const rowsOf = (appId: string) => plane.services.db.select().from(artifacts).where(eq(artifacts.appId, appId));

  it('refuses a declared size the store cannot hold with 400 size_exceeded, before any row or upload exists', async () => {
    const app = await appWith('too-big', { max_artifacts: 10 });
    const limits = plane.services.storage.limits;
    expect(limits).toEqual(storage === 'fs' ? { maxPutBytes: 1024 ** 3, maxObjectBytes: 1024 ** 3 } : { maxPutBytes: 5 * 1024 ** 3, maxObjectBytes: 5 * 1024 ** 4 });
    const digest = 'b'.repeat(64);
    for (const face of ['rest', 'trpc'] as const) {
      const single = await callFace(plane, face, { op: 'presign', input: { app_name: 'too-big', digest, size_bytes: limits.maxPutBytes + 1 } });
      expect(envelope(single)).toEqual({
        status: 400,
        code: 'size_exceeded',
        message: `artifact of ${limits.maxPutBytes + 1} bytes exceeds the ${limits.maxPutBytes} bytes the object store accepts`,
      });
      const multi = await callFace(plane, face, { op: 'multipartInit', input: { app_name: 'too-big', digest, size_bytes: limits.maxObjectBytes + 1 } });
      expect(envelope(multi)).toEqual({
        status: 400,
        code: 'size_exceeded',
        message: `artifact of ${limits.maxObjectBytes + 1} bytes exceeds the ${limits.maxObjectBytes} bytes the object store accepts`,
      });
    }
    expect(await rowsOf(app.id)).toEqual([]);
  });

  it('counts the declared size and every pending upload at presign (single and multipart): 403 quota_exceeded, no URL, no row', async () => {
    const app = await appWith('declared', { max_total_bytes: 10_000 });
    const over = await callFace(plane, 'rest', { op: 'presign', input: { app_name: 'declared', digest: 'c'.repeat(64), size_bytes: 10_001 } });
    expect(envelope(over)).toEqual({ status: 403, code: 'quota_exceeded', message: 'app "declared" would hold 10001 of 10000 bytes' });
    const overInit = await callFace(plane, 'rest', { op: 'multipartInit', input: { app_name: 'declared', digest: 'c'.repeat(64), size_bytes: 10_001 } });
    expect(envelope(overInit)).toEqual({ status: 403, code: 'quota_exceeded', message: 'app "declared" would hold 10001 of 10000 bytes' });

    const first = await callOk<Presigned>(plane, 'rest', { op: 'presign', input: { app_name: 'declared', digest: 'd'.repeat(64), size_bytes: 6000 } });
    expect(first.method).toBe('PUT');
    // The pending upload holds its 6000 bytes: 5000 more do not fit, on either path.
    const second = await callFace(plane, 'trpc', { op: 'presign', input: { app_name: 'declared', digest: 'e'.repeat(64), size_bytes: 5000 } });
    expect(envelope(second)).toEqual({ status: 403, code: 'quota_exceeded', message: 'app "declared" would hold 11000 of 10000 bytes' });
    const secondInit = await callFace(plane, 'trpc', { op: 'multipartInit', input: { app_name: 'declared', digest: 'e'.repeat(64), size_bytes: 5000 } });
    expect(envelope(secondInit)).toEqual({ status: 403, code: 'quota_exceeded', message: 'app "declared" would hold 11000 of 10000 bytes' });
    // Asking again for the same digest is not counted twice.
    expect((await callFace(plane, 'rest', { op: 'presign', input: { app_name: 'declared', digest: 'd'.repeat(64), size_bytes: 6000 } })).status).toBe(200);
    expect((await rowsOf(app.id)).map((r) => [r.digest[0], r.status, r.sizeBytes])).toEqual([['d', 'pending', 6000]]);
    expect((await plane.caller('reader').apps.limits({ app_name: 'declared' })).usage).toEqual({ artifacts: 1, bytes: 6000 });
  });

  it('binds the URL to the declared size: longer and shorter bodies are refused, with or without Content-Length, and nothing stays', async () => {
    await appWith('bound', { max_artifacts: 10 });
    const bytes = fixedSizeArtifact('bound body', 32 * 1024);
    const digest = sha256(bytes);
    const presigned = await callOk<Presigned>(plane, 'trpc', { op: 'presign', input: { app_name: 'bound', digest, size_bytes: bytes.length } });
    const longer = Buffer.concat([bytes, randomBytes(64 * 1024)]);
    const shorter = bytes.subarray(0, bytes.length - 1);
    const n = bytes.length;
    const refusalsBefore = s3?.refusals.length ?? 0;
    const attempts = [
      { body: longer, chunked: false, fs: [413, { code: 'payload_too_large', message: `body is longer than the ${n} bytes the URL was signed for` }] },
      { body: longer, chunked: true, fs: [413, { code: 'payload_too_large', message: `body is longer than the ${n} bytes the URL was signed for` }] },
      { body: shorter, chunked: false, fs: [400, { code: 'size_mismatch', message: `body is ${n - 1} bytes; the URL was signed for ${n}` }] },
      { body: shorter, chunked: true, fs: [400, { code: 'size_mismatch', message: `body is ${n - 1} bytes; the URL was signed for ${n}` }] },
    ] as const;
    for (const a of attempts) {
      const res = await put(presigned, a.body, a.chunked);
      if (storage === 'fs') expect({ status: res.status, body: JSON.parse(res.text) }).toEqual({ status: a.fs[0], body: a.fs[1] });
      else expect({ status: res.status, code: /<Code>(\w+)<\/Code>/.exec(res.text)?.[1] }).toEqual({ status: 403, code: 'SignatureDoesNotMatch' });
      expect(await plane.services.storage.head(presigned.storage_key)).toBeNull();
      expect(await storedBytes('bound')).toBe(0);
    }
    expect(await partialFiles()).toEqual([]);
    if (s3) {
      const signature = 'The request signature we calculated does not match the signature you provided';
      const unsent = 'Signed header content-length was not sent';
      expect(s3.refusals.slice(refusalsBefore)).toEqual([signature, unsent, signature, unsent]);
    }
    expect((await put(presigned, bytes)).status).toBe(200);
    expect(await storedBytes('bound')).toBe(n);
  });

  it('answers complete of a digest presigned but never PUT with 404 not_found, moving nothing; the reservation holds until pending GC', async () => {
    const app = await appWith('never-put', { max_artifacts: 1 });
    const bytes = fixedSizeArtifact('never put');
    const digest = sha256(bytes);
    await callOk(plane, 'trpc', { op: 'presign', input: { app_name: 'never-put', digest, size_bytes: bytes.length } });
    const [row] = await rowsOf(app.id);
    const eventsBefore = await plane.services.db.select().from(artifactEvents).where(eq(artifactEvents.artifactId, row!.id));
    for (const face of ['rest', 'trpc'] as const) {
      const res = await callFace(plane, face, { op: 'complete', input: { app_name: 'never-put', digest, size_bytes: bytes.length } });
      expect(envelope(res)).toEqual({ status: 404, code: 'not_found', message: `object was not uploaded: PUT artifact ${digest.slice(0, 12)} to its presigned URL, then complete` });
    }
    expect(await rowsOf(app.id)).toEqual([row]);
    expect(await plane.services.db.select().from(artifactEvents).where(eq(artifactEvents.artifactId, row!.id))).toEqual(eventsBefore);
    // Still pending, still holding the only slot.
    const other = await callFace(plane, 'rest', { op: 'presign', input: { app_name: 'never-put', digest: 'f'.repeat(64), size_bytes: 100 } });
    expect(envelope(other)).toEqual({ status: 403, code: 'quota_exceeded', message: 'app "never-put" already holds 1 of 1 artifacts' });

    const ttl = plane.services.env.AETHER_PENDING_TTL_SECS;
    await collectStalePending(plane.services, new Date(Date.now() + (ttl + 1) * 1000));
    expect(await rowsOf(app.id)).toEqual([]);
    expect((await plane.caller('reader').apps.limits({ app_name: 'never-put' })).usage).toEqual({ artifacts: 0, bytes: 0 });
    expect((await callFace(plane, 'rest', { op: 'presign', input: { app_name: 'never-put', digest: 'f'.repeat(64), size_bytes: 100 } })).status).toBe(200);
  });

  it('deletes an object of the wrong size found at complete at once (400 size_mismatch), and the row stops counting', async () => {
    const app = await appWith('wrong-size', { max_artifacts: 1 });
    const bytes = fixedSizeArtifact('declared bytes');
    const digest = sha256(bytes);
    await callOk(plane, 'trpc', { op: 'presign', input: { app_name: 'wrong-size', digest, size_bytes: bytes.length } });
    // Bytes put there around the size-bound URL (another tool with store credentials).
    const other = Buffer.concat([bytes, Buffer.from('trailing')]);
    await plane.services.storage.putObject(artifactStorageKey('wrong-size', digest), Readable.from([other]), { sha256: sha256(other), sizeBytes: other.length });

    const res = await callFace(plane, 'rest', { op: 'complete', input: { app_name: 'wrong-size', digest, size_bytes: bytes.length } });
    expect(envelope(res)).toEqual({ status: 400, code: 'size_mismatch', message: `upload refused and deleted: stored ${other.length} bytes, declared ${bytes.length}` });
    expect(await plane.services.storage.head(artifactStorageKey('wrong-size', digest))).toBeNull();
    expect(await storedBytes('wrong-size')).toBe(0);
    expect((await rowsOf(app.id)).map((r) => [r.status, r.failureReason])).toEqual([['failed', 'size_mismatch']]);
    expect((await plane.caller('reader').apps.limits({ app_name: 'wrong-size' })).usage).toEqual({ artifacts: 0, bytes: 0 });
  });

  it('deletes the object of an upload whose verification fails at complete, and the row stops counting', async () => {
    const app = await appWith('unsigned', { max_artifacts: 1 });
    const s = await stageUpload(plane, 'unsigned', fixedSizeArtifact('signed by nobody'));
    // A signature by no key of the app: the complete's verification refuses it.
    const answer = await callFace(plane, 'trpc', { op: 'complete', input: { app_name: 'unsigned', digest: s.digest, size_bytes: s.sizeBytes, signature: 'ab'.repeat(64) } });
    // fs: refused by the complete itself; S3 (a download to hash first): the job fails it.
    expect({ status: answer.status, code: answer.code }).toEqual(storage === 'fs' ? { status: 400, code: 'bad_request' } : { status: 200, code: undefined });
    const settled = await plane.caller('reader').artifacts.wait({ app_name: 'unsigned', digest: s.digest, timeout_ms: 15_000 });
    expect({ status: settled.status, failure_reason: settled.failure_reason }).toEqual({ status: 'failed', failure_reason: 'signature_invalid' });
    expect(await plane.services.storage.head(artifactStorageKey('unsigned', s.digest))).toBeNull();
    expect(await storedBytes('unsigned')).toBe(0);
    expect((await plane.caller('reader').apps.limits({ app_name: 'unsigned' })).usage).toEqual({ artifacts: 0, bytes: 0 });
    expect((await rowsOf(app.id)).map((r) => r.status)).toEqual(['failed']);
  });

  it('deletes a multipart upload whose assembled bytes are not the digest, at complete (fs) or at verification (S3)', async () => {
    const app = await appWith('mp-wrong', { max_artifacts: 1 });
    const bytes = randomBytes(64 * 1024);
    const digest = sha256(bytes);
    const init = await callOk<{ upload_id: string; presigned: { parts: Array<{ url: string; headers: Record<string, string> }> } }>(plane, 'rest', {
      op: 'multipartInit',
      input: { app_name: 'mp-wrong', digest, size_bytes: bytes.length, part_size_bytes: bytes.length, presign_part_numbers: [1] },
    });
    const part = init.presigned.parts[0]!;
    const res = await fetch(part.url, { method: 'PUT', headers: part.headers, body: new Uint8Array(randomBytes(bytes.length)) });
    expect(res.status).toBe(200);
    const complete = await callFace(plane, 'rest', {
      op: 'multipartComplete',
      input: { app_name: 'mp-wrong', digest, upload_id: init.upload_id, size_bytes: bytes.length, parts: [{ part_number: 1, etag: res.headers.get('etag')! }] },
    });
    if (storage === 'fs') {
      expect(envelope(complete)).toEqual({ status: 400, code: 'digest_mismatch', message: 'assembled bytes do not match the sha256 declared at create' });
      expect(await readdir(path.join(plane.dataDir, 'objects', '.multipart')).catch(() => [])).toEqual([]);
      expect((await rowsOf(app.id)).map((r) => [r.status, r.failureReason, r.multipartUploadId])).toEqual([['failed', 'digest_mismatch', null]]);
    } else {
      expect(complete.status).toBe(200);
      const settled = await plane.caller('reader').artifacts.wait({ app_name: 'mp-wrong', digest, timeout_ms: 15_000 });
      expect(settled.failure_reason).toBe('digest_mismatch_remote_hash');
    }
    expect(await plane.services.storage.head(artifactStorageKey('mp-wrong', digest))).toBeNull();
    expect(await storedBytes('mp-wrong')).toBe(0);
    expect((await plane.caller('reader').apps.limits({ app_name: 'mp-wrong' })).usage).toEqual({ artifacts: 0, bytes: 0 });
  });

  it('binds each multipart part to the layout declared at init; a part beyond it gets no URL', async () => {
    await appWith('parts', { max_artifacts: 10 });
    const bytes = randomBytes(5 * MiB + 100);
    const digest = sha256(bytes);
    const init = await callOk<{ upload_id: string; presigned: { parts: Array<{ part_number: number; url: string; headers: Record<string, string> }> } }>(plane, 'trpc', {
      op: 'multipartInit',
      input: { app_name: 'parts', digest, size_bytes: bytes.length, part_size_bytes: 5 * MiB, presign_part_numbers: [1, 2] },
    });
    const beyond = await callFace(plane, 'rest', { op: 'multipartPresignPart', input: { app_name: 'parts', digest, upload_id: init.upload_id, part_number: 3 } });
    expect(envelope(beyond)).toEqual({ status: 400, code: 'bad_request', message: 'part 3 is beyond the 2 parts declared at init' });

    const [one, two] = init.presigned.parts;
    const partUrl = (p: typeof one) => ({ upload_url: p!.url, headers: p!.headers });
    const tooLong = await put(partUrl(two), bytes.subarray(5 * MiB - 1));
    if (storage === 'fs') expect({ status: tooLong.status, body: JSON.parse(tooLong.text) }).toEqual({ status: 413, body: { code: 'payload_too_large', message: 'body is longer than the 100 bytes the URL was signed for' } });
    else expect(tooLong.status).toBe(403);
    const etags: string[] = [];
    for (const [p, body] of [[one, bytes.subarray(0, 5 * MiB)], [two, bytes.subarray(5 * MiB)]] as const) {
      const res = await fetch(p!.url, { method: 'PUT', headers: p!.headers, body: new Uint8Array(body) });
      expect(res.status).toBe(200);
      etags.push(res.headers.get('etag')!);
    }
    const done = await callOk<{ status: string }>(plane, 'rest', {
      op: 'multipartComplete',
      input: { app_name: 'parts', digest, upload_id: init.upload_id, size_bytes: bytes.length, parts: etags.map((etag, i) => ({ part_number: i + 1, etag })) },
    });
    expect(done.status).toBe(statusAtComplete);
    expect(await storedBytes('parts')).toBe(bytes.length);
  });

  // S3 cannot bound a part it was not told the size of; its completion's size check discards such uploads.
  if (storage === 'fs') it('keeps a multipart upload without a layout within its declared size on disk (fs)', async () => {
    await appWith('mp-room', { max_artifacts: 10 });
    const declared = 100 * 1024;
    const bytes = randomBytes(declared);
    const digest = sha256(bytes);
    const init = await callOk<{ upload_id: string; presigned: { parts: Array<{ url: string; headers: Record<string, string> }> } }>(plane, 'rest', {
      op: 'multipartInit',
      input: { app_name: 'mp-room', digest, size_bytes: declared, presign_part_numbers: [1, 2] },
    });
    const [one, two] = init.presigned.parts.map((p) => ({ upload_url: p.url, headers: p.headers }));
    expect((await put(one!, bytes)).status).toBe(200);
    const refusal = { code: 'payload_too_large', message: `parts would hold more than the ${declared} bytes declared for the upload` };
    for (const chunked of [false, true]) {
      const extra = await put(two!, Buffer.from('x'), chunked);
      expect({ status: extra.status, body: JSON.parse(extra.text) }).toEqual({ status: 413, body: refusal });
    }
    // Replacing a part frees its own bytes first.
    const again = await fetch(one!.upload_url, { method: 'PUT', headers: one!.headers, body: new Uint8Array(bytes) });
    expect(again.status).toBe(200);
    expect(await storedBytes('mp-room')).toBe(declared);
    expect(await partialFiles()).toEqual([]);
    const done = await callOk<{ status: string }>(plane, 'rest', {
      op: 'multipartComplete',
      input: { app_name: 'mp-room', digest, upload_id: init.upload_id, size_bytes: declared, parts: [{ part_number: 1, etag: again.headers.get('etag')! }] },
    });
    expect(done.status).toBe(statusAtComplete);
  });

  it('holds a full app to its quota on the store while 100 concurrent oversize uploads are refused', async () => {
    const size = fixedSizeArtifact('probe', 16 * 1024).length;
    const quota = 4 * size;
    const app = await appWith('full', { max_total_bytes: quota });
    for (let i = 0; i < 3; i++) {
      const s = await stageUpload(plane, 'full', fixedSizeArtifact(`stored ${i}`, 16 * 1024));
      expect((await callOk<{ status: string }>(plane, 'trpc', { op: 'complete', input: { app_name: 'full', digest: s.digest, size_bytes: s.sizeBytes } })).status).toBe(statusAtComplete);
    }
    // The last slot is taken by a pending upload whose URL the attackers reuse with bigger bodies.
    const last = fixedSizeArtifact('last slot', 16 * 1024);
    const slot = await callOk<Presigned>(plane, 'rest', { op: 'presign', input: { app_name: 'full', digest: sha256(last), size_bytes: last.length } });
    expect(await storedBytes('full')).toBe(3 * size);

    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await storedBytes('full'));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const oversize = Buffer.alloc(8 * size, 0x61);
    const attacks = Array.from({ length: 100 }, async (_, i) => {
      if (i % 3 === 0) {
        const res = await callFace(plane, i % 2 ? 'rest' : 'trpc', { op: 'presign', input: { app_name: 'full', digest: sha256(Buffer.from(`attacker ${i}`)), size_bytes: 8 * size } });
        return `presign:${res.status}:${res.code}`;
      }
      const res = await put(slot, oversize, i % 3 === 2);
      return `put:${res.status}`;
    });
    const outcomes = await Promise.all(attacks);
    sampling = false;
    await sampler;

    const refusedPut = storage === 'fs' ? 'put:413' : 'put:403';
    expect(new Set(outcomes)).toEqual(new Set(['presign:403:quota_exceeded', refusedPut]));
    // In flight, each PUT can hold at most the signed size (fs stops writing there; S3 takes none).
    const concurrentPuts = outcomes.filter((o) => o.startsWith('put')).length;
    expect(peak).toBeLessThanOrEqual(3 * size + concurrentPuts * last.length);
    if (storage === 's3') expect(peak).toBe(3 * size);
    expect(await storedBytes('full')).toBe(3 * size);
    expect(await partialFiles()).toEqual([]);

    // The holder of the slot still uploads within quota, and the store then holds exactly it.
    expect((await put(slot, last)).status).toBe(200);
    const done = await callOk<{ status: string }>(plane, 'trpc', { op: 'complete', input: { app_name: 'full', digest: sha256(last), size_bytes: last.length } });
    expect(done.status).toBe(statusAtComplete);
    expect(await storedBytes('full')).toBe(quota);
    const counted = await plane.services.db.select().from(artifacts).where(and(eq(artifacts.appId, app.id), eq(artifacts.status, 'pending')));
    expect(counted).toEqual([]);
  });
});
