import { eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiTokens, applications, auditLog } from '../../db/schema';
import { authenticateToken, parseStaticTokens } from '../../server/auth/tokens';
import { boundedDetail } from '../../server/services/audit/record';
import { actor, auditCount, callerAs, dbRefusal, latestAudit, outcomeOf } from '../support/audit';
import { suitePlane } from '../support/harness';

/**
 * A limited caller of team `a` probing team `b`, and someone trying to rewrite the audit log:
 * the edges the team matrix does not walk (forged cursors, refused attempts' records, token
 * names, TRUNCATE, empty static team lists).
 */
describe('team and audit boundaries (postgres)', () => {
  const plane = suitePlane('postgres');
  const services = () => plane().services;
  const admin = () => callerAs(services(), actor('admin'));
  const devA = () => callerAs(services(), actor('deployer', ['a'], 'dev-a'));

  beforeAll(async () => {
    for (const name of ['a', 'b']) await admin().teams.create({ name });
    await admin().apps.create({ name: 'app-of-a', team: 'a' });
    await admin().apps.create({ name: 'app-of-b', team: 'b' });
  });

  it('a forged keyset cursor whose id only looks like a uuid is bad_request, not a crash', async () => {
    const forged = Buffer.from(`2026-01-01T00:00:00.000Z|${'-'.repeat(36)}`).toString('base64url');
    const reader = callerAs(services(), actor('reader', ['a'], 'reader-a'));
    expect(await outcomeOf(() => reader.artifacts.list({ cursor: forged, limit: 10 }))).toBe('bad_request');
    expect(await outcomeOf(() => reader.console.artifacts({ app_name: 'app-of-a', cursor: forged }))).toBe('bad_request');
    expect(await outcomeOf(() => reader.console.timeline({ app_name: 'app-of-a', cursor: forged }))).toBe('bad_request');
  });

  it("a refused attempt to create an app in another team is not written into that team's log", async () => {
    expect(await outcomeOf(() => devA().apps.create({ name: 'planted-name', team: 'b' }))).toBe('forbidden');
    const [row] = await latestAudit(services());
    expect([row?.action, row?.outcome, row?.actor, row?.team]).toEqual(['apps.create', 'forbidden', 'dev-a', null]);
    const readerB = callerAs(services(), actor('reader', ['b'], 'reader-b'));
    const seen = await readerB.audit.list({});
    expect(seen.items.map((r) => r.actor)).not.toContain('dev-a');
  });

  it('refuses token names with control characters (NUL crashed the insert; ESC reaches terminals)', async () => {
    for (const name of ['ci\u0000a', 'ci\u001b[2Jx', 'line\nbreak']) {
      expect(await outcomeOf(() => admin().admin.tokens.create({ name, role: 'reader', teams: ['a'] })), JSON.stringify(name)).toBe('bad_request');
    }
    expect(await outcomeOf(() => admin().admin.tokens.create({ name: 'ci (a) 2', role: 'reader', teams: ['a'] }))).toBe('ok');
  });

  it('a refused config change is recorded once, without the names it was refused for (a lone surrogate, control characters, maybe a value)', async () => {
    const before = await auditCount(services());
    const refused = await outcomeOf(() => devA().config.change({ app_name: 'app-of-a', unset: ['\ud800x', '\u001b[2Jy\u0007', 'OK_NAME'] }));
    expect(refused).toBe('bad_request');
    expect(await auditCount(services())).toBe(before + 1);
    const [row] = await latestAudit(services());
    expect([row?.action, row?.outcome, row?.actor, row?.target]).toEqual(['config.change', 'bad_request', 'dev-a', 'app-of-a']);
    expect(row?.detail).not.toHaveProperty('unset');
  });

  it('caller-typed strings that do reach a record cannot lose it (a lone surrogate) nor carry control characters', () => {
    expect(boundedDetail({ unset: ['\ud800x', '\u001b[2Jy\u0007', 'OK_NAME'] })).toEqual({ unset: ['\ufffdx', '\ufffd[2Jy\ufffd', 'OK_NAME'] });
  });

  it('a CLI login approved with a token mints nothing once that token is revoked, and never outlives it', async () => {
    const anon = () => callerAs(services(), null);
    const approveWith = async (token: string) => {
      const s = await anon().auth.cliStart();
      const approver = await authenticateToken(services().db, services().staticTokens, token);
      await callerAs(services(), approver).auth.cliApprove({ user_code: s.user_code });
      return s.device_code;
    };
    // Revoked between the approval and the poll: the pending approval dies with the token.
    const revokedSoon = await admin().admin.tokens.create({ name: 'dev-a-session', role: 'deployer', teams: ['a'], expires_in_days: 1 });
    const pending = await approveWith(revokedSoon.token);
    await admin().admin.tokens.revoke({ id: revokedSoon.id });
    expect(await anon().auth.cliPoll({ device_code: pending })).toEqual({ status: 'expired' });

    // An approver whose token ends in an hour cannot hand out twelve: the new token ends with it.
    const shortLived = await admin().admin.tokens.create({ name: 'dev-a-short', role: 'deployer', teams: ['a'] });
    const inAnHour = new Date(Date.now() + 3600_000);
    await services().db.update(apiTokens).set({ expiresAt: inAnHour }).where(eq(apiTokens.id, shortLived.id));
    const polled = await anon().auth.cliPoll({ device_code: await approveWith(shortLived.token) });
    expect(polled.status).toBe('approved');
    expect(polled.expires_at).toBe(inAnHour.toISOString());

    // A refresh of the approver's session meanwhile keeps the grant alive: the login still completes.
    const s = await anon().auth.cliStart();
    const approver = await authenticateToken(services().db, services().staticTokens, shortLived.token);
    await callerAs(services(), approver).auth.cliApprove({ user_code: s.user_code });
    await callerAs(services(), approver).auth.refresh();
    expect((await anon().auth.cliPoll({ device_code: s.device_code })).status).toBe('approved');
  });

  it("a call naming another team's app never waits on (or takes) that app's row lock", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    // Team b is busy with its app (a rollback, a config change): its row is locked meanwhile.
    const busy = services().db.transaction(async (tx) => {
      await tx.select().from(applications).where(eq(applications.name, 'app-of-b')).for('update');
      locked();
      await held;
    });
    await isLocked;
    try {
      const answer = await Promise.race([
        outcomeOf(() => devA().deployments.rollback({ app_name: 'app-of-b' })),
        new Promise<string>((r) => setTimeout(() => r('still waiting on the lock'), 3000)),
      ]);
      expect(answer).toBe('not_found');
    } finally {
      release();
      await busy;
    }
  });

  it('TRUNCATE cannot empty the audit log either', async () => {
    await admin().teams.create({ name: 'probe-truncate' });
    const before = await auditCount(services());
    expect(before).toBeGreaterThan(0);
    expect(await dbRefusal(services().db.execute(sql`truncate audit_log`))).toMatch(/append-only: TRUNCATE refused/);
    expect(await auditCount(services())).toBe(before);
    expect((await services().db.select().from(auditLog)).length).toBe(before);
  });
});

describe('a team an environment token is limited to (postgres)', () => {
  const plane = suitePlane('postgres', { AETHER_API_TOKENS: 'admin-token-0001:admin:root,ci-token-0001:deployer:ci-x:x' });
  const admin = () => callerAs(plane().services, actor('admin'));

  it('cannot be deleted: a team of the same name made later would be that token\'s', async () => {
    await admin().teams.create({ name: 'x' });
    expect(await outcomeOf(() => admin().teams.delete({ name: 'x' }))).toBe('conflict');
    expect((await admin().teams.list()).map((t) => t.name)).toContain('x');
  });
});

describe('AETHER_API_TOKENS team lists', () => {
  it('an empty team list is refused, not read as "every team"', () => {
    for (const bad of ['secretvalue1:reader:ci:', 'secretvalue1:deployer::']) {
      let message = '';
      try {
        parseStaticTokens(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, bad).toMatch(/entry 1/);
      expect(message).not.toContain('secretvalue1');
    }
    // The same token twice (two roles or team lists for one secret) is ambiguous: refused.
    for (const [csv, single] of [['secretvalue1:reader:ci:a,secretvalue1:admin:root', undefined], ['secretvalue1:reader:ci:a', 'secretvalue1']] as const) {
      expect(() => parseStaticTokens(csv, single)).toThrow(/repeats the token of AETHER_API_TOKENS entry 1/);
    }
    // Leaving the field out still means every team.
    expect(parseStaticTokens('secretvalue1:reader:ci')[0]?.teams).toBeNull();
    expect(parseStaticTokens('secretvalue1:reader')[0]?.teams).toBeNull();
  });
});
