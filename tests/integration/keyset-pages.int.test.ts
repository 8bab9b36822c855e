import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifacts, deployments } from '../../db/schema';
import { DB_KINDS, startTestPlane, type TestPlane } from '../support/harness';
import { configVersionOf } from '../support/config-version';

/**
 * Newest-first pages over rows whose created_at differ only below the millisecond (the
 * column keeps microseconds; a cursor that rounded them used to skip rows at page edges).
 */
describe.each(DB_KINDS)('keyset pages on %s', (kind) => {
  let plane: TestPlane;
  let appId: string;
  const APP = 'pages';
  const stamps = ['.123900', '.123456', '.123400', '.123001', '.122999'].map((f) => `2026-01-01T00:00:00${f}Z`);

  beforeAll(async () => {
    plane = await startTestPlane(kind);
    appId = (await plane.caller('deployer').apps.create({ name: APP })).id;
    const db = plane.services.db;
    for (const [i, at] of stamps.entries()) {
      const digest = String(i).repeat(64);
      const [a] = await db
        .insert(artifacts)
        .values({ appId, digest, sizeBytes: 10, status: 'stored', storageKey: `artifacts/${APP}/${digest}/app.tar.gz`, createdAt: sql`${at}::timestamptz` })
        .returning();
      await db.insert(deployments).values({ appId, configVersionId: await configVersionOf(db, appId), artifactId: a!.id, digest, status: 'superseded', createdBy: 'test', createdAt: sql`${at}::timestamptz` });
    }
  });
  afterAll(async () => plane?.close());

  async function walk<T extends { digest: string }>(page: (cursor?: string) => Promise<{ items: T[]; next_cursor: string | null }>): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const p = await page(cursor);
      seen.push(...p.items.map((x) => x.digest[0]!));
      if (!p.next_cursor) break;
      cursor = p.next_cursor;
    }
    return seen;
  }

  it('artifacts.list, console.artifacts and console.timeline return every row once, in order, one per page', async () => {
    const reader = plane.caller('reader');
    const expected = ['0', '1', '2', '3', '4'];
    expect(await walk((cursor) => reader.artifacts.list({ app_name: APP, limit: 1, cursor }))).toEqual(expected);
    expect(await walk((cursor) => reader.console.artifacts({ app_name: APP, limit: 1, cursor }))).toEqual(expected);
    expect(await walk((cursor) => reader.console.timeline({ app_name: APP, limit: 1, cursor }))).toEqual(expected);
  });
});
