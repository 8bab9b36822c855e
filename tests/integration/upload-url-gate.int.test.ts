import { eq } from 'drizzle-orm';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { artifacts } from '../../db/schema';
import { sha256 } from '../support/artifacts';
import { callFace, callOk } from '../support/faces';
import { DB_KINDS, suitePlane } from '../support/harness';
import { fixedSizeArtifact } from '../support/staged-uploads';

/**
 * A signed PUT URL of the fs store outlives the upload it was made for. Once that upload is
 * refused, resized, replaced or completed, the URL must not land bytes: they would sit on disk
 * under a row that holds no quota (failed) and that no GC collects.
 */

interface Presigned {
  upload_url: string;
  headers: Record<string, string>;
  storage_key: string;
}

const GONE = { code: 'conflict', message: 'no upload is waiting for these bytes: presign again, then PUT to the new URL' };

describe.each(DB_KINDS)('signed PUTs of an upload no longer in progress (%s)', (kind) => {
  const plane = suitePlane(kind);

  async function put(p: Presigned, bytes: Buffer): Promise<{ status: number; body: unknown }> {
    const res = await fetch(p.upload_url, { method: 'PUT', headers: p.headers, body: new Uint8Array(bytes) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** Every file under the app's objects (sidecars and temp files included). */
  async function filesOf(app: string): Promise<Array<[string, number]>> {
    const root = path.join(plane().dataDir, 'objects', 'artifacts', app);
    const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
    const files: Array<[string, number]> = [];
    for (const e of entries) if (e.isFile()) files.push([e.name, (await stat(path.join(e.parentPath, e.name))).size]);
    return files;
  }

  const presign = (app: string, digest: string, size: number) =>
    callOk<Presigned>(plane(), 'rest', { op: 'presign', input: { app_name: app, digest, size_bytes: size } });

  it('refuses a PUT through the URL of an upload refused and deleted at complete: 409, nothing on disk, no quota held', async () => {
    await plane().caller('deployer').apps.create({ name: 'refused' });
    await plane().caller('admin').apps.setLimits({ app_name: 'refused', max_total_bytes: 10_000 });
    for (const seed of ['one', 'two', 'three']) {
      const bytes = fixedSizeArtifact(seed, 3000);
      const digest = sha256(bytes);
      const first = await presign('refused', digest, bytes.length);
      expect((await put(first, bytes)).status).toBe(200);
      // Declared again one byte longer, then completed: the stored object no longer matches.
      await presign('refused', digest, bytes.length + 1);
      const complete = await callFace(plane(), 'rest', { op: 'complete', input: { app_name: 'refused', digest, size_bytes: bytes.length + 1 } });
      expect([complete.status, complete.code]).toEqual([400, 'size_mismatch']);
      // The first URL is still signed and unexpired.
      expect(await put(first, bytes)).toEqual({ status: 409, body: GONE });
      expect(await filesOf('refused')).toEqual([]);
    }
    const rows = await plane().services.db.select().from(artifacts);
    expect(rows.filter((r) => r.storageKey.startsWith('artifacts/refused/')).map((r) => r.status)).toEqual(['failed', 'failed', 'failed']);
    expect((await plane().caller('reader').apps.limits({ app_name: 'refused' })).usage).toEqual({ artifacts: 0, bytes: 0 });
  });

  it('refuses the URL of a size declared before a presign at another size, and of a digest since moved to multipart', async () => {
    const app = await plane().caller('deployer').apps.create({ name: 'resized' });
    const bytes = fixedSizeArtifact('resized', 3000);
    const digest = sha256(bytes);
    const first = await presign('resized', digest, bytes.length);
    await presign('resized', digest, 1);
    expect(await put(first, bytes)).toEqual({ status: 409, body: GONE });

    const again = await presign('resized', digest, bytes.length);
    await callOk(plane(), 'rest', { op: 'multipartInit', input: { app_name: 'resized', digest, size_bytes: bytes.length } });
    expect(await put(again, bytes)).toEqual({ status: 409, body: GONE });
    expect(await filesOf('resized')).toEqual([]);
    const [row] = await plane().services.db.select().from(artifacts).where(eq(artifacts.appId, app.id));
    expect(row?.status).toBe('pending');
  });

  it('still takes the bytes of the upload in progress, and a retried PUT of it', async () => {
    await plane().caller('deployer').apps.create({ name: 'in-progress' });
    const bytes = fixedSizeArtifact('in progress', 3000);
    const digest = sha256(bytes);
    const p = await presign('in-progress', digest, bytes.length);
    expect((await put(p, bytes)).status).toBe(200);
    expect((await put(p, bytes)).status).toBe(200);
    const done = await callOk<{ status: string }>(plane(), 'rest', { op: 'complete', input: { app_name: 'in-progress', digest, size_bytes: bytes.length } });
    expect(done.status).toBe('stored');
    // Completed: the object is the artifact's now, and the URL may not rewrite it.
    expect(await put(p, bytes)).toEqual({ status: 409, body: GONE });
    expect((await filesOf('in-progress')).map(([name, size]) => [name, name.endsWith('.meta.json') ? 'meta' : size])).toEqual([
      ['app.tar.gz', bytes.length],
      ['app.tar.gz.meta.json', 'meta'],
    ]);
  });
});
