import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { apiTokens } from '../../db/schema';
import { authenticateToken, hashToken } from '../../server/auth/tokens';
import { issueApiToken, revokeApiToken } from '../../server/services/tokens/tokens.service';
import { DB_KINDS, startTestPlane, TOKENS, type TestPlane } from '../support/harness';

describe.each(DB_KINDS)('bearer auth on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(kind);
  });
  afterAll(async () => plane?.close());

  const auth = (token: string, now?: Date) => authenticateToken(plane.services.db, plane.services.staticTokens, token, now);

  it('accepts environment tokens with their role', async () => {
    expect(await auth(TOKENS.reader)).toEqual({ name: 'reader-user', role: 'reader', tokenId: null, teams: null });
  });

  it('accepts a database token, stores only its hash, and records its last use', async () => {
    const issued = await issueApiToken(plane.services.db, { name: 'ci', role: 'deployer' });
    const [row] = await plane.services.db.select().from(apiTokens).where(eq(apiTokens.id, issued.id));
    expect(row?.tokenHash).toBe(hashToken(issued.token));
    expect(JSON.stringify(row)).not.toContain(issued.token);
    expect(row?.lastUsedAt).toBeNull();
    expect(await auth(issued.token)).toEqual({ name: 'ci', role: 'deployer', tokenId: issued.id, teams: null });
    const [used] = await plane.services.db.select().from(apiTokens).where(eq(apiTokens.id, issued.id));
    expect(used?.lastUsedAt).toBeInstanceOf(Date);
  });

  it('refuses unknown, expired and revoked tokens as unauthorized', async () => {
    await expect(auth('aet_unknown-token')).rejects.toMatchObject({ code: 'unauthorized' });
    const expiring = await issueApiToken(plane.services.db, { name: 'short', role: 'reader', expiresAt: new Date(Date.now() + 60_000) });
    expect((await auth(expiring.token)).role).toBe('reader');
    await expect(auth(expiring.token, new Date(Date.now() + 120_000))).rejects.toMatchObject({ code: 'unauthorized' });
    const revoked = await issueApiToken(plane.services.db, { name: 'gone', role: 'admin' });
    await revokeApiToken(plane.services.db, revoked.id);
    await expect(auth(revoked.token)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('lets a database token call procedures over HTTP, within its role', async () => {
    const reader = await issueApiToken(plane.services.db, { name: 'viewer', role: 'reader' });
    const headers = { authorization: `Bearer ${reader.token}`, 'content-type': 'application/json' };
    expect((await fetch(`${plane.url}/api/trpc/session.whoami`, { headers })).status).toBe(200);
    const write = await fetch(`${plane.url}/api/trpc/apps.create`, { method: 'POST', headers, body: JSON.stringify({ name: 'nope' }) });
    expect(write.status).toBe(403);
  });
});
