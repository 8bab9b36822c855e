import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokens } from '../../db/schema';
import { REDACTED, redactSecrets, redactText } from '../../server/services/admin/redact';
import { startTestPlane, type TestPlane } from '../support/harness';
import { trpcCodeOf } from '../support/trpc-code';

describe('admin API tokens', () => {
  let plane: TestPlane;
  const tokens = () => plane.caller('admin').admin.tokens;
  const whoami = async (token: string) => {
    const res = await fetch(`${plane.url}/api/trpc/session.whoami`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: res.ok ? ((await res.json()) as { result: { data: { name: string; role: string } } }).result.data : null };
  };

  beforeAll(async () => {
    plane = await startTestPlane('pglite');
  });
  afterAll(async () => plane?.close());

  it('creates a token shown once, which works at once; the list shows its hint, never the secret', async () => {
    const created = await tokens().create({ name: 'ci-pipeline', role: 'deployer', expires_in_days: 30 });
    expect(created.token).toMatch(/^aet_/);
    expect(created.hint).toBe(created.token.slice(-4));
    const days = (Date.parse(created.expires_at!) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(await whoami(created.token)).toMatchObject({ status: 200, body: { name: 'ci-pipeline', role: 'deployer' } });

    const list = await tokens().list();
    const row = list.find((t) => t.id === created.id);
    expect(row).toMatchObject({ name: 'ci-pipeline', role: 'deployer', source: 'database', status: 'active', hint: created.hint });
    const shown = JSON.stringify(list);
    expect(shown).not.toContain(created.token);
    const [stored] = await plane.services.db.select({ hash: apiTokens.tokenHash }).from(apiTokens).limit(1);
    expect(shown).not.toContain(stored!.hash);
    // Environment tokens are listed (read-only, no id), without their values.
    expect(list.filter((t) => t.source === 'environment').map((t) => t.role).sort()).toEqual(['admin', 'deployer', 'reader']);
    expect(shown).not.toContain('test-admin-token-0001');
  });

  it('revokes: the token stops working, revoking again keeps the first time, the list hides it unless asked', async () => {
    const created = await tokens().create({ name: 'short-lived', role: 'reader' });
    expect(created.expires_at).toBeNull();
    const first = await tokens().revoke({ id: created.id });
    expect((await whoami(created.token)).status).toBe(401);
    expect(await tokens().revoke({ id: created.id })).toEqual(first);

    expect((await tokens().list()).some((t) => t.id === created.id)).toBe(false);
    const all = await tokens().list({ include_inactive: true });
    expect(all.find((t) => t.id === created.id)).toMatchObject({ status: 'revoked', revoked_at: first.revoked_at });
  });

  it('refuses bad input with the right code and changes nothing', async () => {
    const before = (await tokens().list({ include_inactive: true })).length;
    expect(await trpcCodeOf(() => tokens().create({ name: '   ', role: 'admin' }))).toBe('BAD_REQUEST');
    expect(await trpcCodeOf(() => tokens().create({ name: 'x', role: 'root' as 'admin' }))).toBe('BAD_REQUEST');
    expect(await trpcCodeOf(() => tokens().create({ name: 'x', role: 'admin', expires_in_days: 0 }))).toBe('BAD_REQUEST');
    expect(await trpcCodeOf(() => tokens().revoke({ id: 'not-a-uuid' }))).toBe('BAD_REQUEST');
    expect(await trpcCodeOf(() => tokens().revoke({ id: randomUUID() }))).toBe('NOT_FOUND');
    expect((await tokens().list({ include_inactive: true })).length).toBe(before);
  });
});

describe('redaction of what jobs carry', () => {
  it('blanks values under secret-sounding keys, at any depth, keeping ids and digests', () => {
    const out = redactSecrets({
      artifactId: '2b0c6f7e-0f4e-4a8e-9d57-0d7a3c1b9e11',
      digest: 'ab'.repeat(32),
      token: 'x',
      accessToken: 'y',
      signature: 'ff'.repeat(64),
      nested: { db_password: 'p', awsCredentials: { id: 'AKIA' }, Authorization: 'Basic Zm9vOmJhcg==', sessionCookie: 'c' },
      list: [{ client_secret: 's' }, 'plain'],
      apiKey: 'k',
      private_key: 'pk',
    }) as Record<string, unknown>;
    expect(out).toEqual({
      artifactId: '2b0c6f7e-0f4e-4a8e-9d57-0d7a3c1b9e11',
      digest: 'ab'.repeat(32),
      token: REDACTED,
      accessToken: REDACTED,
      signature: REDACTED,
      nested: { db_password: REDACTED, awsCredentials: REDACTED, Authorization: REDACTED, sessionCookie: REDACTED },
      list: [{ client_secret: REDACTED }, 'plain'],
      apiKey: REDACTED,
      private_key: REDACTED,
    });
  });

  it('strips query strings and user info from URLs, keeping where they point', () => {
    expect(redactText('GET https://s3.example.com/bucket/a.tgz?X-Amz-Signature=abc&X-Amz-Expires=900 failed')).toBe(
      `GET https://s3.example.com/bucket/a.tgz?${REDACTED} failed`,
    );
    expect(redactText('redis://user:pa55word@cache:6379/0')).toBe(`redis://${REDACTED}@cache:6379/0`);
    expect(redactText('http://127.0.0.1:3000/storage/k/a.tgz?sig=1#frag')).toBe(`http://127.0.0.1:3000/storage/k/a.tgz?${REDACTED}`);
    expect(redactText('see https://example.com/docs')).toBe('see https://example.com/docs');
  });

  it('finds tokens and key material in free text (errors, stacks)', () => {
    const text = [
      'auth failed for aet_AbCdEfGhIjKlMnOpQrStUv',
      'header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
      'aws key AKIAIOSFODNN7EXAMPLE rejected',
      'config password=hunter2 token: "abc def" secret=xyz;',
      '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----',
    ].join('\n');
    const out = redactText(text);
    for (const secret of ['aet_AbCd', 'eyJhbGci', 'AKIAIOSFODNN7EXAMPLE', 'hunter2', 'abc def', 'xyz', 'MC4CAQAw']) expect(out).not.toContain(secret);
    expect(out).toContain('password=[redacted]');
    expect(out).toContain('auth failed for [redacted]');
  });

  it('keeps non-string values and stops at absurd depth', () => {
    expect(redactSecrets({ n: 1, b: true, z: null, u: undefined })).toEqual({ n: 1, b: true, z: null, u: undefined });
    let deep: Record<string, unknown> = { leaf: 'aet_abcdefghijklmnop' };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    expect(JSON.stringify(redactSecrets(deep))).not.toContain('aet_');
  });
});
