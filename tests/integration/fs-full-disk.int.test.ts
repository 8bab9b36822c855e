import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readdir, readFile, rm, rmdir, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications, artifacts } from '../../db/schema';
import { artifactStorageKey } from '../../server/contract/digest';
import { createFsStorage } from '../../server/storage/fs.driver';
import { sha256 } from '../support/artifacts';
import { callFace } from '../support/faces';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { fixedSizeArtifact, pollSettled } from '../support/staged-uploads';

/**
 * The fs store on a filesystem that really is full: a small tmpfs mounted as the data dir (root
 * only; skipped otherwise). Every write path (signed PUT, multipart part in place and in a file
 * of its own, multipart completion, the legacy upload) must answer `insufficient_storage`, keep
 * no temp file, leave stored objects whole and work again once space is freed. PostgreSQL only:
 * PGlite would keep its database on the tiny disk.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const DISK_BYTES = 8 * MiB;
const FULL = {
  code: 'insufficient_storage',
  message: 'the object store is out of space; nothing of this upload was kept, retry once space is freed',
};

const mountPoint = mkdtempSync(path.join(os.tmpdir(), 'aether-full-disk-'));
const mounted = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', mountPoint], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!mounted) rmSync(mountPoint, { recursive: true });

describe('fs store on a full disk (postgres)', () => {
  let plane: TestPlane;
  let fillers = 0;

  beforeAll(async () => {
    // A real full disk needs the tmpfs mount (root): without it this fails, it does not skip.
    if (!mounted) throw new Error(`could not mount a tmpfs at ${mountPoint}: the full-disk tests need root`);
    plane = await startTestPlane('postgres', { AETHER_DATA_DIR: mountPoint });
    plane.startWorkers();
  });

  afterAll(async () => {
    await plane?.close();
    execFileSync('umount', [mountPoint]);
    await rmdir(mountPoint);
  });

  const freeBytes = async () => {
    const s = await statfs(mountPoint);
    return s.bavail * s.bsize;
  };

  /** Fills the disk until `leave` bytes are free, or (without) until a write fails with ENOSPC. */
  async function fill(leave = 0): Promise<void> {
    const fh = await open(path.join(mountPoint, `filler-${fillers++}`), 'w');
    const chunk = Buffer.alloc(64 * KiB, 1);
    try {
      for (let free = await freeBytes(); free > leave; free = await freeBytes()) {
        await fh.write(chunk, 0, Math.min(chunk.length, Math.max(free - leave, 1)));
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      await fh.close();
    }
  }

  async function freeAll(): Promise<void> {
    for (const name of await readdir(mountPoint)) if (name.startsWith('filler-')) await rm(path.join(mountPoint, name));
  }

  /** Every file under the object store and the legacy spool (sidecars and temp files included). */
  async function storeFiles(): Promise<string[]> {
    const files: string[] = [];
    for (const dir of ['objects', 'uploads']) {
      const entries = await readdir(path.join(mountPoint, dir), { recursive: true, withFileTypes: true }).catch(
        () => [],
      );
      for (const e of entries) if (e.isFile()) files.push(path.relative(mountPoint, path.join(e.parentPath, e.name)));
    }
    return files.sort();
  }

  const temps = async () => (await storeFiles()).filter((f) => f.endsWith('.partial') || f.endsWith('.part'));
  const usage = async (app: string) => (await plane.caller('reader').apps.limits({ app_name: app })).usage;
  const statusOf = async (app: string, digest: string) => {
    const [appRow] = await plane.services.db.select().from(applications).where(eq(applications.name, app));
    const [row] = await plane.services.db
      .select()
      .from(artifacts)
      .where(and(eq(artifacts.appId, appRow!.id), eq(artifacts.digest, digest)));
    return row?.status ?? null;
  };

  async function put(url: string, headers: Record<string, string>, bytes: Buffer) {
    const res = await fetch(url, { method: 'PUT', headers, body: new Uint8Array(bytes) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null, etag: res.headers.get('etag') };
  }

  /** Presign, PUT, complete and wait: an artifact stored before the disk fills. */
  async function storeArtifact(app: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const p = await plane.caller('deployer').artifacts.presign({ app_name: app, digest, size_bytes: bytes.length });
    expect((await put(p.upload_url, p.headers, bytes)).status).toBe(200);
    await plane.caller('deployer').artifacts.complete({ app_name: app, digest, size_bytes: bytes.length });
    expect((await pollSettled(plane, app, digest)).status).toBe('stored');
    return digest;
  }

  async function readStored(app: string, digest: string): Promise<Buffer> {
    const stream = await plane.services.storage.openRead(artifactStorageKey(app, digest));
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  it('a signed PUT bigger than the space left: 507, no temp file or quota, old objects whole; then works', async () => {
    await plane.caller('deployer').apps.create({ name: 'full-put' });
    const earlier = fixedSizeArtifact('earlier', 40 * KiB);
    const earlierDigest = await storeArtifact('full-put', earlier);
    const before = await usage('full-put');

    const big = fixedSizeArtifact('too big', 600 * KiB);
    const digest = sha256(big);
    const p = await plane
      .caller('deployer')
      .artifacts.presign({ app_name: 'full-put', digest, size_bytes: big.length });
    const reserved = await usage('full-put');
    await fill(200 * KiB);
    expect(await put(p.upload_url, p.headers, big)).toEqual({ status: 507, body: FULL, etag: null });

    expect(await temps()).toEqual([]);
    expect((await storeFiles()).filter((f) => f.includes(digest))).toEqual([]);
    // The presign's reservation is all the quota the upload holds; the failed PUT took none.
    expect(await usage('full-put')).toEqual(reserved);
    expect(reserved).toEqual({ artifacts: before.artifacts + 1, bytes: before.bytes + big.length });
    expect(await statusOf('full-put', digest)).toBe('pending');
    await expect(
      plane.caller('deployer').artifacts.complete({ app_name: 'full-put', digest, size_bytes: big.length }),
    ).rejects.toMatchObject({
      cause: { code: 'not_found' },
    });
    expect((await readStored('full-put', earlierDigest)).equals(earlier)).toBe(true);

    // Full to the last byte: even the sidecar does not fit, and the PUT still leaves nothing.
    await fill();
    const tiny = fixedSizeArtifact('tiny', 1 * KiB);
    const tp = await plane
      .caller('deployer')
      .artifacts.presign({ app_name: 'full-put', digest: sha256(tiny), size_bytes: tiny.length });
    expect((await put(tp.upload_url, tp.headers, tiny)).status).toBe(507);
    expect(await temps()).toEqual([]);

    await freeAll();
    expect((await put(p.upload_url, p.headers, big)).status).toBe(200);
    await plane.caller('deployer').artifacts.complete({ app_name: 'full-put', digest, size_bytes: big.length });
    expect((await pollSettled(plane, 'full-put', digest)).status).toBe('stored');
    expect((await readStored('full-put', digest)).equals(big)).toBe(true);
    expect((await readStored('full-put', earlierDigest)).equals(earlier)).toBe(true);
  });

  for (const placed of [true, false]) {
    const how = placed ? 'written in place (declared layout)' : 'in a file of its own';
    it(`a multipart part ${how} that does not fit: 507, its space given back; then works`, async () => {
      const app = placed ? 'full-placed' : 'full-separate';
      await plane.caller('deployer').apps.create({ name: app });
      const bytes = fixedSizeArtifact(app, 600 * KiB);
      const digest = sha256(bytes);
      const deployer = plane.caller('deployer');
      const init = await deployer.artifacts.multipartInit({
        app_name: app,
        digest,
        size_bytes: bytes.length,
        ...(placed && { part_size_bytes: bytes.length }),
      });
      const reserved = await usage(app);
      const part = await deployer.artifacts.multipartPresignPart({
        app_name: app,
        digest,
        upload_id: init.upload_id,
        part_number: 1,
      });
      await fill(200 * KiB);
      const free = await freeBytes();
      expect(await put(part.url, part.headers, bytes)).toEqual({ status: 507, body: FULL, etag: null });
      expect(await temps()).toEqual([]);
      // Only the upload's record is left: no part, no marker, no object.data.
      expect((await storeFiles()).filter((f) => f.includes('.multipart/'))).toEqual([
        `objects/.multipart/${init.upload_id}/upload.json`,
      ]);
      expect(await freeBytes()).toBeGreaterThanOrEqual(free);
      expect(await usage(app)).toEqual(reserved);

      await freeAll();
      const ok = await put(part.url, part.headers, bytes);
      expect(ok.status).toBe(200);
      const complete = {
        app_name: app,
        digest,
        upload_id: init.upload_id,
        size_bytes: bytes.length,
        parts: [{ part_number: 1, etag: ok.etag! }],
      };

      // Completion needs room too: a copy of the parts, or (in place) just the sidecar.
      await fill(placed ? 0 : 200 * KiB);
      const refused = await callFace(plane, 'rest', { op: 'multipartComplete', input: complete });
      // A procedure answers the code's own status (exactStatusOf), though tRPC has no 507.
      expect([refused.status, refused.code]).toEqual([507, 'insufficient_storage']);
      expect(await temps()).toEqual([]);
      expect(await statusOf(app, digest)).toBe('pending');

      await freeAll();
      const done = await deployer.artifacts.multipartComplete(complete);
      expect(done.status).toBe('stored');
      expect((await pollSettled(plane, app, digest)).status).toBe('stored');
      expect((await readStored(app, digest)).equals(bytes)).toBe(true);
      expect((await storeFiles()).filter((f) => f.includes('.multipart/'))).toEqual([]);
    });
  }

  it('a part in place that tears the middle of object.data keeps the parts placed after it', async () => {
    // A driver of its own: the store's 5 MiB minimum part would not fit this disk three times.
    const storage = createFsStorage({
      rootDir: path.join(mountPoint, 'torn'),
      baseUrl: 'http://torn.test',
      secret: randomBytes(32),
      minPartBytes: 1,
      onInternalError: () => undefined,
    });
    const body = Buffer.alloc(300 * KiB, 7);
    const whole = Buffer.concat([body, body, body]);
    const key = artifactStorageKey('torn', sha256(whole));
    const { uploadId } = await storage.createMultipart(key, {
      sha256: sha256(whole),
      layout: { sizeBytes: whole.length, partSizeBytes: body.length },
    });
    const putPart = async (partNumber: number) => {
      const { url } = await storage.presignPart(key, {
        uploadId,
        partNumber,
        expiresInSecs: 60,
        sizeBytes: body.length,
      });
      const res = await storage.handleRequest(
        new Request(url, { method: 'PUT', body: new Uint8Array(body), duplex: 'half' } as RequestInit),
      );
      return { status: res.status, etag: res.headers.get('etag') ?? '' };
    };
    const third = await putPart(3);
    expect(third.status).toBe(200);
    await fill(100 * KiB);
    expect((await putPart(1)).status).toBe(507);
    const left = await readdir(path.join(mountPoint, 'torn', '.multipart', uploadId));
    expect(left.sort()).toEqual([`3.${third.etag.replaceAll('"', '')}.at`, 'object.data', 'upload.json']);

    await freeAll();
    const parts = [await putPart(1), await putPart(2), third].map((r, i) => ({ partNumber: i + 1, etag: r.etag }));
    await storage.completeMultipart(key, { uploadId, parts });
    expect((await storage.head(key))?.computedSha256).toBe(sha256(whole));
    await rm(path.join(mountPoint, 'torn'), { recursive: true });
  });

  it('the legacy upload: 507 when the spool or the store fills, nothing kept, no quota held; then works', async () => {
    await plane.caller('deployer').apps.create({ name: 'full-legacy' });
    const before = await usage('full-legacy');
    const bytes = fixedSizeArtifact('legacy', 600 * KiB);
    const digest = sha256(bytes);
    const post = async () => {
      const res = await fetch(`${plane.url}/artifacts?app_name=full-legacy`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKENS.deployer}`,
          'x-aether-artifact-digest': digest,
          'content-type': 'application/gzip',
        },
        body: new Uint8Array(bytes),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    // Too little room to spool the body at all.
    await fill(200 * KiB);
    expect(await post()).toEqual({ status: 507, body: FULL });
    expect(await temps()).toEqual([]);
    expect(await statusOf('full-legacy', digest)).toBeNull();

    // Room to spool it, not to store a second copy: the reservation is released at once.
    await freeAll();
    await fill(bytes.length + 200 * KiB);
    expect(await post()).toEqual({ status: 507, body: FULL });
    expect(await temps()).toEqual([]);
    expect((await storeFiles()).filter((f) => f.includes(digest))).toEqual([]);
    expect(await statusOf('full-legacy', digest)).toBe('failed');
    expect(await usage('full-legacy')).toEqual(before);

    await freeAll();
    const ok = await post();
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe('stored');
    expect((await readStored('full-legacy', digest)).equals(bytes)).toBe(true);
  });
});
