import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiTokens, cliLogins } from '../../db/schema';
import { hashToken } from '../../server/auth/tokens';
import type { Role } from '../../server/auth/roles';
import { CLI_TOKEN_TTL_SECS, purgeOldCliLogins } from '../../server/services/auth/cli-login.service';
import { writeSession } from '../../cli/config';
import { maybeRefresh, type CliSession } from '../../cli/session-refresh';
import { DB_KINDS, startTestPlane, TOKENS, type TestPlane } from '../support/harness';

/** A tRPC call over real HTTP, as the CLI makes it: `{ status, data }` or `{ status, code }`. */
async function trpc(plane: TestPlane, procedure: string, input: unknown, token?: string) {
  const res = await fetch(`${plane.url}/api/trpc/${procedure}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(input ?? {}),
  });
  const body = (await res.json()) as { result?: { data: unknown }; error?: { data?: { code?: string } } };
  return { status: res.status, data: body.result?.data as Record<string, unknown> | undefined, code: body.error?.data?.code };
}

async function whoami(plane: TestPlane, token: string) {
  const res = await fetch(`${plane.url}/api/trpc/session.whoami`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { result?: { data: { name: string; role: Role } } };
  return { status: res.status, who: body.result?.data };
}

async function expectCode(promise: Promise<unknown>, code: string) {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err, `expected ${code}`).toBeInstanceOf(TRPCError);
  expect(((err as TRPCError).cause as { code?: string } | undefined)?.code).toBe(code);
}

describe.each(DB_KINDS)('CLI device login on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane(kind);
  });
  afterAll(async () => plane?.close());

  const anon = () => plane.caller(null);
  const start = () => anon().auth.cliStart();
  const poll = (device_code: string) => anon().auth.cliPoll({ device_code });
  /** The whole flow up to a token, approved by `role`. */
  const loginAs = async (role: Role) => {
    const s = await start();
    await plane.caller(role).auth.cliApprove({ user_code: s.user_code });
    const p = await poll(s.device_code);
    expect(p.status).toBe('approved');
    return p as typeof p & { token: string };
  };

  it('start -> pending -> approved by a deployer -> one working deployer token -> nothing more', async () => {
    const s = await start();
    expect(s.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(s.device_code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.verification_url).toBe(`${plane.url}/login/cli?code=${s.user_code}`);
    expect(s).toMatchObject({ interval_secs: 2, expires_in_secs: 600 });
    // Only the device code's hash is kept.
    const [row] = await plane.services.db.select().from(cliLogins).where(eq(cliLogins.userCode, s.user_code));
    expect(row).toMatchObject({ status: 'pending', deviceCodeHash: hashToken(s.device_code) });
    expect(JSON.stringify(row)).not.toContain(s.device_code);

    expect(await poll(s.device_code)).toEqual({ status: 'pending' });
    // Typed sloppily (lower case, no dash): still the same code.
    expect(await plane.caller('deployer').auth.cliApprove({ user_code: s.user_code.toLowerCase().replace('-', ' ') })).toEqual({ user_code: s.user_code, status: 'approved' });

    const before = Date.now();
    const p = await poll(s.device_code);
    expect(p).toMatchObject({ status: 'approved', user: 'deployer-user', role: 'deployer', token: expect.stringMatching(/^aet_/) });
    const ttl = Date.parse(p.expires_at!) - before;
    expect(ttl).toBeGreaterThan((CLI_TOKEN_TTL_SECS - 60) * 1000);
    expect(ttl).toBeLessThanOrEqual((CLI_TOKEN_TTL_SECS + 5) * 1000);
    expect(await whoami(plane, p.token!)).toEqual({ status: 200, who: { name: 'deployer-user (cli)', role: 'deployer', teams: null } });

    const [consumed] = await plane.services.db.select().from(cliLogins).where(eq(cliLogins.id, row!.id));
    expect(consumed).toMatchObject({ status: 'consumed', approvedByName: 'deployer-user', approvedRole: 'deployer' });
    const [token] = await plane.services.db.select().from(apiTokens).where(eq(apiTokens.id, consumed!.tokenId!));
    expect(token?.tokenHash).toBe(hashToken(p.token!));

    expect(await poll(s.device_code)).toEqual({ status: 'expired' });
    await expectCode(plane.caller('admin').auth.cliApprove({ user_code: s.user_code }), 'not_found');
  });

  it('works over HTTP without a token for start and poll, and needs one to approve', async () => {
    const s = await trpc(plane, 'auth.cliStart', {});
    expect(s.status).toBe(200);
    const code = s.data!.user_code as string;
    expect((await trpc(plane, 'auth.cliPoll', { device_code: s.data!.device_code })).data).toEqual({ status: 'pending' });
    expect(await trpc(plane, 'auth.cliApprove', { user_code: code })).toMatchObject({ status: 401, code: 'unauthorized' });
    // The REST face (public too) answers at /auth/cli/start.
    const rest = await fetch(`${plane.url}/auth/cli/start`, { method: 'POST' });
    expect(rest.status).toBe(200);
    expect(await rest.json()).toMatchObject({ user_code: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/) });
  });

  it('a denied login says denied and cannot be approved afterwards', async () => {
    const s = await start();
    expect(await plane.caller('reader').auth.cliDeny({ user_code: s.user_code })).toEqual({ user_code: s.user_code, status: 'denied' });
    expect(await poll(s.device_code)).toEqual({ status: 'denied' });
    await expectCode(plane.caller('admin').auth.cliApprove({ user_code: s.user_code }), 'not_found');
    expect(await poll(s.device_code)).toEqual({ status: 'denied' });
  });

  it('an expired login says expired and cannot be approved', async () => {
    const s = await start();
    await plane.services.db.update(cliLogins).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(cliLogins.userCode, s.user_code));
    await expectCode(plane.caller('admin').auth.cliApprove({ user_code: s.user_code }), 'not_found');
    expect(await poll(s.device_code)).toEqual({ status: 'expired' });
    const [row] = await plane.services.db.select().from(cliLogins).where(eq(cliLogins.deviceCodeHash, hashToken(s.device_code)));
    expect(row?.status).toBe('expired');
  });

  it('an approval that expires before the CLI collects it hands out nothing', async () => {
    const s = await start();
    await plane.caller('admin').auth.cliApprove({ user_code: s.user_code });
    await plane.services.db.update(cliLogins).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(cliLogins.userCode, s.user_code));
    expect(await poll(s.device_code)).toEqual({ status: 'expired' });
  });

  it('the maintenance purge deletes logins expired over a day ago and keeps the rest', async () => {
    const [old, recent, live] = [await start(), await start(), await start()];
    const expire = (userCode: string, msAgo: number) =>
      plane.services.db.update(cliLogins).set({ expiresAt: new Date(Date.now() - msAgo) }).where(eq(cliLogins.userCode, userCode));
    await expire(old.user_code, 25 * 3600_000);
    await expire(recent.user_code, 3600_000);
    expect(await purgeOldCliLogins(plane.services)).toBeGreaterThanOrEqual(1);
    const left = async (deviceCode: string) => (await plane.services.db.select().from(cliLogins).where(eq(cliLogins.deviceCodeHash, hashToken(deviceCode)))).length;
    expect([await left(old.device_code), await left(recent.device_code), await left(live.device_code)]).toEqual([0, 1, 1]);
    expect(await poll(old.device_code)).toEqual({ status: 'expired' });
  });

  it("a reader's approval yields a reader token", async () => {
    const p = await loginAs('reader');
    expect(p.role).toBe('reader');
    expect((await whoami(plane, p.token)).who).toEqual({ name: 'reader-user (cli)', role: 'reader', teams: null });
    expect(await trpc(plane, 'apps.create', { name: 'from-reader' }, p.token)).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('unknown device codes say expired; unknown or malformed user codes are not_found', async () => {
    expect(await poll('x'.repeat(43))).toEqual({ status: 'expired' });
    await expectCode(plane.caller('admin').auth.cliApprove({ user_code: 'BBBB-BBBB' }), 'not_found');
    await expectCode(plane.caller('admin').auth.cliDeny({ user_code: 'not a code' }), 'not_found');
  });

  it('tells a client that polls faster than the interval to slow down', async () => {
    const s = await start();
    expect(await poll(s.device_code)).toEqual({ status: 'pending' });
    expect(await poll(s.device_code)).toEqual({ status: 'pending', slow_down: true });
  });

  it('of two racing polls after approval, exactly one gets the token', async () => {
    const s = await start();
    await plane.caller('deployer').auth.cliApprove({ user_code: s.user_code });
    const results = await Promise.all([poll(s.device_code), poll(s.device_code), poll(s.device_code)]);
    expect(results.filter((r) => r.token).length).toBe(1);
    expect(results.filter((r) => !r.token).every((r) => r.status === 'expired')).toBe(true);
  });

  it('refresh swaps the token: the new one works, the old one is revoked', async () => {
    const p = await loginAs('deployer');
    const refreshed = await trpc(plane, 'auth.refresh', {}, p.token);
    expect(refreshed.status).toBe(200);
    const fresh = refreshed.data as { token: string; expires_at: string; name: string; role: string };
    expect(fresh).toMatchObject({ name: 'deployer-user (cli)', role: 'deployer' });
    expect(fresh.token).not.toBe(p.token);
    expect(fresh.expires_at).toBe(p.expires_at);
    expect((await whoami(plane, fresh.token)).status).toBe(200);
    expect((await whoami(plane, p.token)).status).toBe(401);
    expect(await trpc(plane, 'auth.refresh', {}, p.token)).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('refuses to refresh environment tokens and non-expiring database tokens, which keep working', async () => {
    expect(await trpc(plane, 'auth.refresh', {}, TOKENS.deployer)).toMatchObject({ status: 400, code: 'bad_request' });
    const { issueApiToken } = await import('../../server/services/tokens/tokens.service');
    const ci = await issueApiToken(plane.services.db, { name: 'ci', role: 'deployer' });
    expect(await trpc(plane, 'auth.refresh', {}, ci.token)).toMatchObject({ status: 400, code: 'bad_request' });
    expect((await whoami(plane, ci.token)).status).toBe(200);
  });

  it('logout revokes a session token; an environment token is left alone', async () => {
    const p = await loginAs('deployer');
    expect((await trpc(plane, 'auth.logout', {}, p.token)).data).toEqual({ revoked: true });
    expect((await whoami(plane, p.token)).status).toBe(401);
    expect((await trpc(plane, 'auth.logout', {}, TOKENS.reader)).data).toEqual({ revoked: false });
    expect((await whoami(plane, TOKENS.reader)).status).toBe(200);
  });

  describe('the CLI keeps its session fresh (maybeRefresh)', () => {
    let cache: string;
    beforeAll(async () => {
      cache = await mkdtemp(path.join(os.tmpdir(), 'aether-cli-session-'));
    });
    afterAll(async () => rm(cache, { recursive: true, force: true }));
    const env = () => ({ XDG_STATE_HOME: cache });
    /** A logged-in session whose token (in the database too) expires in `mins` minutes. */
    const sessionExpiringIn = async (mins: number): Promise<CliSession> => {
      const p = await loginAs('deployer');
      const expiresAt = new Date(Date.now() + mins * 60_000);
      await plane.services.db.update(apiTokens).set({ expiresAt }).where(eq(apiTokens.tokenHash, hashToken(p.token)));
      const session: CliSession = { token: p.token, apiBase: plane.url, user: p.user!, role: p.role!, savedAt: new Date().toISOString(), expiresAt: expiresAt.toISOString() };
      await writeSession(env(), session);
      return session;
    };

    it('leaves a session with hours left alone', async () => {
      const session = await sessionExpiringIn(5 * 60);
      expect(await maybeRefresh(session, env())).toBe(session);
    });

    it('swaps a token that expires within the hour, keeping its expiry, and rewrites the session file', async () => {
      const session = await sessionExpiringIn(30);
      const next = await maybeRefresh(session, env());
      expect(next.token).not.toBe(session.token);
      expect(next.expiresAt).toBe(session.expiresAt);
      expect(next).toMatchObject({ user: 'deployer-user', role: 'deployer', apiBase: plane.url });
      expect(JSON.parse(await readFile(path.join(cache, 'aether', 'session.json'), 'utf8'))).toEqual(next);
      expect((await whoami(plane, next.token)).status).toBe(200);
      expect((await whoami(plane, session.token)).status).toBe(401);
    });

    it('keeps the old session and warns when the control plane cannot be reached', async () => {
      const session = await sessionExpiringIn(30);
      const warnings: string[] = [];
      const offline = { ...session, apiBase: 'http://127.0.0.1:9' };
      expect(await maybeRefresh(offline, env(), { warn: (m) => warnings.push(m) })).toBe(offline);
      expect(warnings.join('\n')).toMatch(/could not refresh/);
    });
  });
});
