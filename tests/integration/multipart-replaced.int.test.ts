import { eq } from 'drizzle-orm';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { artifacts } from '../../db/schema';
import { callFace, callOk, type FaceResult } from '../support/faces';
import { DB_KINDS, suitePlane } from '../support/harness';

/**
 * An upload that replaces another of the same digest (a multipart init, or a presign) aborts the
 * one it replaced, even when they race: otherwise the replaced upload, named by no row, is never
 * collected, and the part URLs its init answered with keep taking bytes no quota counts.
 */

interface Init {
  upload_id: string;
  presigned: { parts: Array<{ url: string }> };
}

const NOT_FOUND = { code: 'not_found', message: 'multipart upload not found' };

describe.each(DB_KINDS)('replaced multipart uploads (%s)', (kind) => {
  const plane = suitePlane(kind);

  const uploadsOnDisk = async () => (await readdir(path.join(plane().dataDir, 'objects', '.multipart')).catch(() => [] as string[])).sort();

  async function putPart(url: string, bytes: number): Promise<{ status: number; body: unknown }> {
    const res = await fetch(url, { method: 'PUT', body: new Uint8Array(bytes) });
    const text = await res.text();
    return { status: res.status, body: res.ok ? null : JSON.parse(text) };
  }

  it('ten concurrent inits of one digest leave one upload: the others are aborted and their part URLs refused', async () => {
    const app = await plane().caller('deployer').apps.create({ name: 'racing-inits' });
    await plane().caller('admin').apps.setLimits({ app_name: 'racing-inits', max_total_bytes: 10_000 });
    const digest = 'a'.repeat(64);
    const before = await uploadsOnDisk();
    const input = { app_name: 'racing-inits', digest, size_bytes: 10_000, presign_part_numbers: [1] };
    const answers: FaceResult[] = await Promise.all(Array.from({ length: 10 }, () => callFace(plane(), 'rest', { op: 'multipartInit', input })));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    const [row] = await plane().services.db.select().from(artifacts).where(eq(artifacts.appId, app.id));
    const inits = answers.map((a) => a.data as Init);
    const live = inits.filter((i) => i.upload_id === row!.multipartUploadId);
    expect(live).toHaveLength(1);
    expect((await uploadsOnDisk()).filter((u) => !before.includes(u))).toEqual([row!.multipartUploadId]);
    for (const init of inits.filter((i) => i !== live[0])) {
      expect(await putPart(init.presigned.parts[0]!.url, 10_000)).toEqual({ status: 404, body: NOT_FOUND });
    }
    expect((await putPart(live[0]!.presigned.parts[0]!.url, 10_000)).status).toBe(200);
  });

  it('a presign of a digest whose multipart upload is in progress aborts that upload', async () => {
    await plane().caller('deployer').apps.create({ name: 'init-then-presign' });
    const digest = 'b'.repeat(64);
    const input = { app_name: 'init-then-presign', digest, size_bytes: 10_000 };
    const init = await callOk<Init>(plane(), 'rest', { op: 'multipartInit', input: { ...input, presign_part_numbers: [1] } });
    expect(await uploadsOnDisk()).toContain(init.upload_id);
    await callOk(plane(), 'rest', { op: 'presign', input });
    expect(await uploadsOnDisk()).not.toContain(init.upload_id);
    expect(await putPart(init.presigned.parts[0]!.url, 10_000)).toEqual({ status: 404, body: NOT_FOUND });
  });
});
