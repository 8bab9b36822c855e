/**
 * A refreshed token stays inside the grant it came from: same expiry, and revoking the token
 * an admin handed out ends every token refreshed from it, at once, over real HTTP.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type DbOptions } from '../../db/client';
import { apiTokens } from '../../db/schema';
import { hashToken } from '../../server/auth/tokens';
import { issueApiToken, lockGrant, revokeGrantOf } from '../../server/services/tokens/tokens.service';
import { DB_KINDS, startTestPlane, type TestPlane } from '../support/harness';
import { createScratchDatabase } from '../support/pg';

interface Refreshed {
  token: string;
  expires_at: string;
}

describe.each(DB_KINDS)('token grants on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(kind);
  });
  afterAll(async () => plane?.close());

  const tokens = () => plane.caller('admin').admin.tokens;
  const post = async (procedure: string, token: string) => {
    const res = await fetch(`${plane.url}/api/trpc/${procedure}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{}',
    });
    const body = (await res.json()) as { result?: { data: Refreshed }; error?: { data?: { code?: string } } };
    return { status: res.status, data: body.result?.data, code: body.error?.data?.code };
  };
  const refresh = async (token: string): Promise<Refreshed> => {
    const res = await post('auth.refresh', token);
    expect(res.status, res.code).toBe(200);
    return res.data!;
  };
  const whoami = async (token: string) => {
    const res = await fetch(`${plane.url}/api/trpc/session.whoami`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { error?: { data?: { code?: string } } };
    return { status: res.status, code: body.error?.data?.code ?? null };
  };
  const row = async (id: string) => (await plane.services.db.select().from(apiTokens).where(eq(apiTokens.id, id)))[0]!;
  const rowOf = async (token: string) => (await plane.services.db.select().from(apiTokens).where(eq(apiTokens.tokenHash, hashToken(token))))[0]!;
  /** A 1-day deployer token, as an admin creates it in the portal. */
  const dayToken = () => tokens().create({ name: `ci-${Math.random().toString(36).slice(2)}`, role: 'deployer', expires_in_days: 1 });

  it('a refresh keeps the expiry exactly, and so does the refresh of a refreshed token', async () => {
    const original = await dayToken();
    const child = await refresh(original.token);
    expect(child.expires_at).toBe(original.expires_at);
    const grandchild = await refresh(child.token);
    expect(grandchild.expires_at).toBe(original.expires_at);
    expect(await whoami(grandchild.token)).toEqual({ status: 200, code: null });

    const [c, g] = [await rowOf(child.token), await rowOf(grandchild.token)];
    expect(c).toMatchObject({ grantId: original.id, parentId: original.id });
    expect(g).toMatchObject({ grantId: original.id, parentId: c.id });
    expect(g.expiresAt?.toISOString()).toBe(original.expires_at);
    expect((await row(original.id)).grantId).toBe(original.id);
  });

  it('revoking the original makes every token refreshed from it answer 401 unauthorized', async () => {
    const original = await dayToken();
    const child = await refresh(original.token);
    const grandchild = await refresh(child.token);
    // Refreshing revoked the ancestors; the admin's list shows the original as revoked already.
    await tokens().revoke({ id: original.id });
    for (const t of [original.token, child.token, grandchild.token]) {
      expect(await whoami(t)).toEqual({ status: 401, code: 'unauthorized' });
      expect(await post('auth.refresh', t)).toMatchObject({ status: 401, code: 'unauthorized' });
    }
    expect((await rowOf(grandchild.token)).revokedAt).toBeInstanceOf(Date);
  });

  it('revoking a refreshed token ends it and its successors; its ancestors keep their replacement time', async () => {
    const original = await dayToken();
    const child = await refresh(original.token);
    const replacedAt = (await row(original.id)).revokedAt;
    expect(replacedAt).toBeInstanceOf(Date);
    const childRow = await rowOf(child.token);
    const grandchild = await refresh(child.token);
    await tokens().revoke({ id: childRow.id });
    expect(await whoami(grandchild.token)).toEqual({ status: 401, code: 'unauthorized' });
    expect((await row(original.id)).revokedAt?.toISOString()).toBe(replacedAt!.toISOString());
  });

  it('logout of a refreshed session token revokes it at once', async () => {
    const original = await dayToken();
    const child = await refresh(original.token);
    expect((await post('auth.logout', child.token)).status).toBe(200);
    expect(await whoami(child.token)).toEqual({ status: 401, code: 'unauthorized' });
  });

  it('an unrelated token survives the revocation of another grant', async () => {
    const [a, b] = [await dayToken(), await dayToken()];
    const bChild = await refresh(b.token);
    await tokens().revoke({ id: a.id });
    expect(await whoami(bChild.token)).toEqual({ status: 200, code: null });
  });

  // A refresh that has inserted its token but not committed yet, then a revocation: the
  // revocation must wait for it and take the new token too. PGlite has one connection.
  if (kind !== 'pglite') it('a revocation that races an uncommitted refresh still ends the refreshed token', async () => {
    const original = await dayToken();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const insertedYet = new Promise<void>((resolve) => (inserted = resolve));
    const refreshing = plane.services.db.transaction(async (tx) => {
      await lockGrant(tx, original.id);
      await tx.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.id, original.id));
      const child = await issueApiToken(tx, { name: 'raced', role: 'deployer', expiresAt: new Date(original.expires_at!), parent: { id: original.id, grantId: original.id } });
      inserted();
      await gate;
      return child;
    });
    await insertedYet;
    const revoking = revokeGrantOf(plane.services.db, original.id);
    await new Promise((r) => setTimeout(r, 200));
    release();
    const child = await refreshing;
    await revoking;
    expect(await whoami(child.token)).toEqual({ status: 401, code: 'unauthorized' });
  });
});

describe.each(DB_KINDS)('the token grants migration on %s', (kind) => {
  const MIGRATIONS = path.resolve(import.meta.dirname, '../../db/migrations');

  /** The committed migrations up to (not including) the one tagged `tag`, in a temp dir. */
  async function migrationsBefore(tag: string, into: string): Promise<string> {
    const journal = JSON.parse(await readFile(path.join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
    const cut = journal.entries.findIndex((e) => e.tag === tag);
    expect(cut).toBeGreaterThan(0);
    const dir = path.join(into, 'migrations');
    await mkdir(path.join(dir, 'meta'), { recursive: true });
    for (const e of journal.entries.slice(0, cut)) await cp(path.join(MIGRATIONS, `${e.tag}.sql`), path.join(dir, `${e.tag}.sql`));
    await writeFile(path.join(dir, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: journal.entries.slice(0, cut) }));
    return dir;
  }

  it('makes every existing token its own grant', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'aether-grants-migration-'));
    const scratch = kind === 'postgres' ? await createScratchDatabase() : null;
    const opts: DbOptions = { dataDir: work, ...(scratch ? { databaseUrl: scratch.url } : {}) };
    try {
      const before = await openDb({ ...opts, migrationsDir: await migrationsBefore('0003_token_grants', work) });
      await before.migrate();
      await before.db.execute(sql`insert into api_tokens (token_hash, hint, name, role) values ('h1', 'aaaa', 'old-1', 'reader'), ('h2', 'bbbb', 'old-2', 'admin')`);
      await before.close();

      const after = await openDb(opts);
      await after.migrate();
      const rows = await after.db.select().from(apiTokens);
      expect(rows.map((r) => r.name).sort()).toEqual(['old-1', 'old-2']);
      for (const r of rows) expect(r).toMatchObject({ grantId: r.id, parentId: null });
      await after.close();
    } finally {
      await scratch?.drop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
