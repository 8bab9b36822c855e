import { describe, expect, it } from 'vitest';
import { auditLog } from '../../db/schema';
import type { TAuditPage, TAuditRecord } from '../../server/contract/audit';
import { buildOpenApiDocument } from '../../server/rest/openapi';
import { signInWithToken } from '../../server/services/auth/sign-in.service';
import { actor, callerAs, latestAudit } from '../support/audit';
import { suitePlane, TOKENS } from '../support/harness';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The audit log through the real HTTP edge: request ids, GET /audit, hand-written routes, sign-ins. */
describe('audit log over HTTP', () => {
  const plane = suitePlane('pglite');
  const services = () => plane().services;

  const call = (method: string, path: string, opts: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}) =>
    fetch(`${plane().url}${path}`, {
      method,
      headers: {
        ...(opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? TOKENS.deployer}` }),
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...opts.headers,
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  const auditPage = async (query: string, token: string = TOKENS.admin): Promise<TAuditPage> => {
    const res = await call('GET', `/audit${query}`, { token });
    expect(res.status).toBe(200);
    return (await res.json()) as TAuditPage;
  };
  const everything = async () => JSON.stringify(await services().db.select().from(auditLog));

  it('takes a sane X-Request-Id (or X-Trace-Id), echoes it and records it; mints one for anything else', async () => {
    const rest = await call('POST', '/apps', { body: { name: 'http-one' }, headers: { 'x-request-id': 'cli-42.run:1' } });
    expect(rest.status).toBe(201);
    expect(rest.headers.get('x-request-id')).toBe('cli-42.run:1');
    const trpc = await call('POST', '/api/trpc/apps.create', { body: { name: 'http-two' }, headers: { 'x-trace-id': 'trace_77' } });
    expect(trpc.status).toBe(200);
    expect(trpc.headers.get('x-request-id')).toBe('trace_77');

    const page = await auditPage('?action=apps.create&limit=2');
    expect(page.items.map((r) => [r.target, r.request_id, r.actor, r.actor_role, r.team, r.outcome])).toEqual([
      ['http-two', 'trace_77', 'deployer-user', 'deployer', 'default', 'ok'],
      ['http-one', 'cli-42.run:1', 'deployer-user', 'deployer', 'default', 'ok'],
    ]);

    for (const bad of ['has space', 'x'.repeat(129), '<script>', '']) {
      const res = await call('POST', '/apps', { body: { name: 'http-one' }, headers: { 'x-request-id': bad } });
      expect(res.status).toBe(409);
      const minted = res.headers.get('x-request-id');
      expect(minted).toMatch(UUID_RE);
      const [row] = await latestAudit(services());
      expect(row).toMatchObject({ action: 'apps.create', outcome: 'conflict', requestId: minted });
    }
    // Reads and refusals carry one too.
    expect((await call('GET', '/apps', { headers: { 'x-request-id': 'read-1' } })).headers.get('x-request-id')).toBe('read-1');
    expect((await call('GET', '/api/trpc/apps.list', { token: null })).headers.get('x-request-id')).toMatch(UUID_RE);
  });

  it('serves GET /audit with filters and keyset pages, admin-only records hidden from others', async () => {
    await callerAs(services(), actor('admin')).admin.tokens.create({ name: 'http-token', role: 'reader' });
    const first = await auditPage('?limit=1&action=apps.create');
    expect(first.items).toHaveLength(1);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await auditPage(`?limit=1&action=apps.create&cursor=${first.next_cursor}`);
    expect(second.items[0]!.id).toBeLessThan(first.items[0]!.id);

    const asAdmin = await auditPage('?limit=200');
    expect(asAdmin.items.some((r) => r.action === 'admin.tokens.create' && r.team === null)).toBe(true);
    const asReader = await auditPage('?limit=200', TOKENS.reader);
    expect(asReader.items.length).toBeGreaterThan(0);
    expect(asReader.items.every((r: TAuditRecord) => r.team !== null)).toBe(true);

    const bad = async (query: string, status: number, code: string, token: string | null = TOKENS.admin) => {
      const res = await call('GET', `/audit${query}`, { token });
      expect([res.status, ((await res.json()) as { code: string }).code], query).toEqual([status, code]);
    };
    await bad('?since=yesterday', 400, 'bad_request');
    await bad('?limit=201', 400, 'bad_request');
    await bad('?cursor=bad', 400, 'bad_request');
    await bad('', 401, 'unauthorized', null);
  });

  it('offers no face that changes or removes a record', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const res = await call(method, '/audit', { token: TOKENS.admin, body: {} });
      expect(res.status, method).toBe(405);
    }
    expect((await call('POST', '/api/trpc/audit.list', { token: TOKENS.admin, body: {} })).status).toBe(405);
    const doc = buildOpenApiDocument(plane().url) as unknown as { paths: Record<string, Record<string, unknown>> };
    const auditPaths = Object.entries(doc.paths).filter(([p]) => p.includes('audit'));
    expect(auditPaths.map(([p, ops]) => [p, Object.keys(ops).filter((m) => m !== 'parameters')])).toEqual([['/audit', ['get']]]);
  });

  it('records the hand-written legacy upload route, refused calls too, but not anonymous ones', async () => {
    const upload = (token: string | null, query: string, headers: Record<string, string> = {}) =>
      fetch(`${plane().url}/artifacts${query}`, {
        method: 'POST',
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/gzip', ...headers },
        body: new Uint8Array([1, 2, 3]),
      });
    expect((await upload(TOKENS.reader, '?app_name=http-one')).status).toBe(403);
    let [row] = await latestAudit(services());
    expect(row).toMatchObject({ action: 'artifacts.legacyUpload', outcome: 'forbidden', actor: 'reader-user', target: 'http-one' });

    const res = await upload(TOKENS.deployer, '?app_name=http-one', { 'x-request-id': 'legacy-1' });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-request-id')).toBe('legacy-1');
    [row] = await latestAudit(services());
    expect(row).toMatchObject({ action: 'artifacts.legacyUpload', outcome: 'missing_digest', target: 'http-one', requestId: 'legacy-1' });

    const before = (await latestAudit(services()))[0]!.id;
    expect((await upload(null, '?app_name=http-one')).status).toBe(401);
    expect((await latestAudit(services()))[0]!.id).toBe(before);
  });

  it('records portal sign-ins, ok or unauthorized, naming the token but never showing it', async () => {
    await signInWithToken(services(), TOKENS.admin, { via: 'portal', requestId: 'sign-1' });
    let [row] = await latestAudit(services());
    expect(row).toMatchObject({ action: 'auth.signIn', outcome: 'ok', actor: 'admin-user', actorRole: 'admin', requestId: 'sign-1', team: null });

    await expect(signInWithToken(services(), 'not-a-token-at-all', { via: 'portal' })).rejects.toMatchObject({ code: 'unauthorized' });
    [row] = await latestAudit(services());
    expect(row).toMatchObject({ action: 'auth.signIn', outcome: 'unauthorized', actor: 'unknown', actorRole: null, actorTokenId: null });

    const revoked = await callerAs(services(), actor('admin')).admin.tokens.create({ name: 'gone-soon', role: 'deployer' });
    await callerAs(services(), actor('admin')).admin.tokens.revoke({ id: revoked.id });
    await expect(signInWithToken(services(), revoked.token, { via: 'portal' })).rejects.toMatchObject({ code: 'unauthorized' });
    [row] = await latestAudit(services());
    expect(row).toMatchObject({ action: 'auth.signIn', outcome: 'unauthorized', actor: 'gone-soon', actorRole: 'deployer', actorTokenId: revoked.id });

    const all = await everything();
    for (const secret of [TOKENS.admin, 'not-a-token-at-all', revoked.token]) expect(all).not.toContain(secret);
  });

  it('records a CLI device login: the approval, then the sign-in when the CLI collects its token', async () => {
    const start = (await (await call('POST', '/auth/cli/start', { token: null, body: {} })).json()) as { device_code: string; user_code: string };
    expect((await call('POST', '/auth/cli/approve', { token: TOKENS.reader, body: { user_code: start.user_code } })).status).toBe(200);
    const poll = (await (await call('POST', '/auth/cli/poll', { token: null, body: { device_code: start.device_code } })).json()) as { status: string; token: string };
    expect(poll.status).toBe('approved');
    const [signIn, approve] = await latestAudit(services(), 2);
    expect(approve).toMatchObject({ action: 'auth.cliApprove', outcome: 'ok', actor: 'reader-user', team: null });
    expect(signIn).toMatchObject({ action: 'auth.signIn', outcome: 'ok', actor: 'reader-user (cli)', actorRole: 'reader', target: 'reader-user' });
    expect(signIn!.actorTokenId).toMatch(UUID_RE);
    const all = await everything();
    expect(all).not.toContain(poll.token);
    expect(all).not.toContain(start.device_code);
  });
});
