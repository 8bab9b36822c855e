import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiTokens, teams } from '../../db/schema';
import { actor, callerAs, outcomeOf } from '../support/audit';
import { DB_KINDS, suitePlane, TOKENS } from '../support/harness';
import { callOverRest, callOverTrpc } from '../support/procedure-faces';

/**
 * Tokens limited to teams: issued by an admin (API and portal action share the procedure),
 * refused for unknown teams and admin tokens, listed with their teams, and inherited by every
 * token minted from another (CLI device login, session refresh): never broader than the issuer.
 */
describe.each(DB_KINDS)('tokens limited to teams (%s)', (kind) => {
  const plane = suitePlane(kind, { AETHER_API_TOKENS: `${TOKENS.admin}:admin:admin-user,env-limited-a:deployer:env-a:a+b` });
  const services = () => plane().services;
  const admin = () => callerAs(services(), actor('admin'));
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const appsSeenBy = async (token: string) => {
    const out = await callOverRest(plane().url, bearer(token), 'apps.list', undefined);
    expect(out.code).toBe('ok');
    return (out.data as Array<{ name: string; team: string }>).map((a) => `${a.team}/${a.name}`).sort();
  };

  beforeAll(async () => {
    for (const name of ['a', 'b']) await admin().teams.create({ name });
    for (const [name, team] of [['app-in-a', 'a'], ['app-in-b', 'b'], ['app-in-default', 'default']]) await admin().apps.create({ name: name!, team });
  });

  it('issues a token limited to teams: it sees and acts on those teams only, and the list shows them', async () => {
    const created = await admin().admin.tokens.create({ name: 'ci-a', role: 'deployer', teams: ['a'] });
    expect(created).toMatchObject({ name: 'ci-a', role: 'deployer', teams: ['a'] });
    expect(await appsSeenBy(created.token)).toEqual(['a/app-in-a']);
    const other = await callOverRest(plane().url, bearer(created.token), 'apps.get', { app_name: 'app-in-b' });
    expect([other.code, other.message]).toEqual(['not_found', 'app "app-in-b" not found']);
    const made = await callOverTrpc(plane().url, bearer(created.token), 'apps.create', { name: 'made-by-ci-a' });
    expect([made.code, (made.data as { team: string }).team]).toEqual(['ok', 'a']);

    const listed = await admin().admin.tokens.list();
    expect(listed.find((t) => t.id === created.id)?.teams).toEqual(['a']);
    expect(listed.find((t) => t.name === 'env-a')?.teams).toEqual(['a', 'b']);
    expect(listed.find((t) => t.name === 'admin-user')?.teams).toBeNull();
    const unlimited = await admin().admin.tokens.create({ name: 'ci-all', role: 'reader' });
    expect(unlimited.teams).toBeNull();
    expect(await appsSeenBy(unlimited.token)).toEqual(['a/app-in-a', 'a/made-by-ci-a', 'b/app-in-b', 'default/app-in-default']);
  });

  it('refuses unknown teams (naming them), teams on an admin token and bad team lists; issues nothing', async () => {
    const count = async () => (await services().db.select({ id: apiTokens.id }).from(apiTokens)).length;
    const before = await count();
    const refused = async (input: Parameters<ReturnType<typeof admin>['admin']['tokens']['create']>[0]) => {
      try {
        await admin().admin.tokens.create(input);
        return 'issued';
      } catch (err) {
        return `${await outcomeOf(() => Promise.reject(err))}: ${(err as Error).message}`;
      }
    };
    expect(await refused({ name: 'x', role: 'deployer', teams: ['a', 'ghost', 'phantom'] })).toBe(
      'bad_request: unknown teams: "ghost", "phantom"; create them first',
    );
    expect(await refused({ name: 'x', role: 'admin', teams: ['a'] })).toMatch(/^bad_request: admin tokens see every team/);
    expect(await refused({ name: 'x', role: 'reader', teams: [] })).toMatch(/^bad_request/);
    expect(await refused({ name: 'x', role: 'reader', teams: ['a', 'a'] })).toMatch(/^bad_request/);
    expect(await refused({ name: 'x', role: 'reader', teams: ['Not A Team'] })).toMatch(/^bad_request/);
    expect(await count()).toBe(before);
    // The REST face has no admin token route: the same refusal over tRPC HTTP.
    const http = await callOverTrpc(plane().url, bearer(TOKENS.admin), 'admin.tokens.create', { name: 'x', role: 'reader', teams: ['ghost'] });
    expect([http.code, http.message]).toEqual(['bad_request', 'unknown team: "ghost"; create it first']);
  });

  it('a team a token is limited to cannot be deleted while the token is live', async () => {
    await admin().teams.create({ name: 'c' });
    const t = await admin().admin.tokens.create({ name: 'ci-c', role: 'reader', teams: ['c'] });
    expect(await outcomeOf(() => admin().teams.delete({ name: 'c' }))).toBe('conflict');
    await admin().admin.tokens.revoke({ id: t.id });
    await admin().teams.delete({ name: 'c' });
    expect(await services().db.select().from(teams).where(eq(teams.name, 'c'))).toEqual([]);
  });

  it('a CLI login approved by a limited user yields a token limited the same way, and a refresh keeps it', async () => {
    const anon = callerAs(services(), null);
    const approveAndPoll = async (approver: ReturnType<typeof actor>) => {
      const s = await anon.auth.cliStart();
      await callerAs(services(), approver).auth.cliApprove({ user_code: s.user_code });
      const p = await anon.auth.cliPoll({ device_code: s.device_code });
      expect(p.status).toBe('approved');
      return (p as { token: string }).token;
    };
    const limited = await approveAndPoll(actor('deployer', ['a'], 'dev-a'));
    expect(await appsSeenBy(limited)).toEqual(['a/app-in-a', 'a/made-by-ci-a']);
    const [row] = await services().db.select({ teams: apiTokens.teams }).from(apiTokens).where(eq(apiTokens.name, 'dev-a (cli)'));
    expect(row?.teams).toEqual(['a']);

    const refreshed = await callOverTrpc(plane().url, bearer(limited), 'auth.refresh', {});
    expect(refreshed.code).toBe('ok');
    expect(await appsSeenBy((refreshed.data as { token: string }).token)).toEqual(['a/app-in-a', 'a/made-by-ci-a']);

    // An environment token limited to two teams approves: both, no more.
    const viaEnv = await approveAndPoll(actor('deployer', ['a', 'b'], 'env-a'));
    expect(await appsSeenBy(viaEnv)).toEqual(['a/app-in-a', 'a/made-by-ci-a', 'b/app-in-b']);
    // An unlimited approver gives an unlimited token.
    expect(await appsSeenBy(await approveAndPoll(actor('reader')))).toHaveLength(4);
  });
});
