import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditLog } from '../../db/schema';
import { createLogger } from '../../server/logger';
import { recordAudit } from '../../server/services/audit/record';
import {
  actor,
  auditCount,
  callerAs,
  callPath,
  dbRefusal,
  latestAudit,
  outcomeOf,
  procedurePaths,
  type AuditRow,
} from '../support/audit';
import { DB_KINDS, suitePlane } from '../support/harness';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.each(DB_KINDS)('audit log on %s', (kind) => {
  const plane = suitePlane(kind);
  const services = () => plane().services;
  const admin = () => callerAs(services(), actor('admin'));

  it('writes exactly one record for every mutation procedure, refused or failed ones too', async () => {
    const mutations = procedurePaths().filter((p) => p.type === 'mutation').map((p) => p.path);
    // Guards against a vacuous pass: the router has far more mutations than this.
    expect(mutations.length).toBeGreaterThanOrEqual(25);
    expect(mutations).toEqual(expect.arrayContaining(['apps.create', 'deployments.rollback', 'admin.tokens.create', 'auth.cliApprove']));
    // Input no procedure accepts: each call fails at validation (admin) or at the role (reader).
    for (const who of [actor('admin'), actor('reader', null, 'limited-reader')]) {
      for (const path of mutations) {
        const before = await auditCount(services());
        const requestId = `req-${randomUUID()}`;
        const outcome = await outcomeOf(() => callPath(callerAs(services(), who, requestId), path, 12345));
        expect(outcome, path).not.toBe('ok');
        expect(await auditCount(services()), `${path} as ${who.name}`).toBe(before + 1);
        const [row] = await latestAudit(services());
        expect(row, path).toMatchObject({ action: path, outcome, actor: who.name, actorRole: who.role, requestId, target: null, team: null });
      }
    }
  });

  it('records successes and refusals with actor, team, target, request id and the outcome the caller got', async () => {
    const deployer = callerAs(services(), actor('deployer'), 'ci-run-7');
    expect(await outcomeOf(() => deployer.apps.create({ name: 'audited' }))).toBe('ok');
    expect(await outcomeOf(() => deployer.apps.create({ name: 'audited' }))).toBe('conflict');
    expect(await outcomeOf(() => callerAs(services(), actor('reader')).apps.create({ name: 'audited-2' }))).toBe('forbidden');
    expect(await outcomeOf(() => admin().apps.delete({ app_name: 'never-made' }))).toBe('not_found');
    const rows = (await latestAudit(services(), 4)).reverse();
    const pick = (r: AuditRow) => [r.action, r.outcome, r.actor, r.actorRole, r.team, r.target];
    expect(rows.map(pick)).toEqual([
      ['apps.create', 'ok', 'deployer-user', 'deployer', 'default', 'audited'],
      ['apps.create', 'conflict', 'deployer-user', 'deployer', 'default', 'audited'],
      ['apps.create', 'forbidden', 'reader-user', 'reader', null, 'audited-2'],
      // A missing app names no team: the record is for admins only.
      ['apps.delete', 'not_found', 'admin-user', 'admin', null, 'never-made'],
    ]);
    expect(rows[0]!.requestId).toBe('ci-run-7');
    // In-process callers without a request id get a minted one.
    expect(rows[3]!.requestId).toMatch(UUID_RE);
  });

  it('does not record calls without an actor, nor queries', async () => {
    const before = await auditCount(services());
    expect(await outcomeOf(() => callerAs(services(), null).apps.create({ name: 'anonymous' }))).toBe('unauthorized');
    expect(await outcomeOf(() => callerAs(services(), null).auth.cliStart())).toBe('ok');
    expect(await outcomeOf(() => admin().apps.list())).toBe('ok');
    expect(await outcomeOf(() => admin().audit.list({}))).toBe('ok');
    expect(await auditCount(services())).toBe(before);
  });

  it('records all of 20 concurrent mutations', async () => {
    const before = await auditCount(services());
    const names = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
    const outcomes = await Promise.all(
      names.map((name, i) => outcomeOf(() => callerAs(services(), actor(i % 4 === 0 ? 'reader' : 'deployer')).apps.create({ name }))),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(15);
    expect(outcomes.filter((o) => o === 'forbidden')).toHaveLength(5);
    expect(await auditCount(services())).toBe(before + 20);
    const rows = await latestAudit(services(), 20);
    expect(rows.map((r) => r.target).sort()).toEqual([...names].sort());
  });

  it('names config keys but never a value, and never the token an admin creates', async () => {
    const plainValue = `plain-${randomUUID()}`;
    const secretValue = `secret-${randomUUID()}`;
    await callerAs(services(), actor('deployer')).apps.create({ name: 'canary' });
    const change = await outcomeOf(() =>
      callerAs(services(), actor('deployer')).config.change({
        app_name: 'canary',
        set: { AUDIT_PLAIN: plainValue },
        secrets: { AUDIT_SECRET: secretValue },
        deploy: false,
      }),
    );
    expect(change).toBe('ok');
    const [config] = await latestAudit(services());
    expect(config).toMatchObject({ action: 'config.change', outcome: 'ok', team: 'default', target: 'canary' });
    expect(JSON.stringify(config!.detail)).toContain('AUDIT_PLAIN');
    expect(JSON.stringify(config!.detail)).toContain('AUDIT_SECRET');
    // A refused change is recorded too, still without its value.
    expect(await outcomeOf(() => callerAs(services(), actor('reader')).config.change({ app_name: 'canary', set: { X: plainValue } }))).toBe('forbidden');

    const created = await admin().admin.tokens.create({ name: 'audit-canary', role: 'reader' });
    const [token] = await latestAudit(services());
    expect(token).toMatchObject({ action: 'admin.tokens.create', outcome: 'ok', team: null, target: 'audit-canary' });

    const everything = JSON.stringify(await services().db.select().from(auditLog));
    for (const value of [plainValue, secretValue, created.token]) expect(everything).not.toContain(value);
  });

  it('refuses UPDATE and DELETE in the database itself', async () => {
    const db = services().db;
    await recordAudit(services(), { actor: { name: 'probe', role: 'admin', tokenId: null }, action: 'probe.write', outcome: 'ok' });
    const before = JSON.stringify(await db.select().from(auditLog));
    expect(await dbRefusal(db.update(auditLog).set({ outcome: 'rewritten' }))).toMatch(/append-only: UPDATE refused/);
    expect(await dbRefusal(db.delete(auditLog))).toMatch(/append-only: DELETE refused/);
    expect(await dbRefusal(db.execute(sql`update audit_log set actor = 'someone-else' where action = 'probe.write'`))).toMatch(/append-only/);
    expect(JSON.stringify(await db.select().from(auditLog))).toBe(before);
  });

  it('offers no procedure that changes or removes audit records', () => {
    const audit = procedurePaths().filter((p) => /audit/i.test(p.path));
    expect(audit).toEqual([{ path: 'audit.list', type: 'query' }]);
  });

  it('shows admins everything, others only their teams, and records outside any team to admins only', async () => {
    await admin().teams.create({ name: 'team-a' });
    await admin().teams.create({ name: 'team-b' });
    await admin().apps.create({ name: 'in-a', team: 'team-a' });
    await admin().apps.create({ name: 'in-b', team: 'team-b' });
    const seen = async (who: ReturnType<typeof actor>, filter: Record<string, string> = {}) => {
      const page = await callerAs(services(), who).audit.list({ ...filter, limit: 200 });
      return page.items.filter((r) => ['in-a', 'in-b', 'team-a', 'team-b'].includes(r.target ?? '')).map((r) => `${r.action}:${r.target}`);
    };
    const all = ['teams.create:team-a', 'teams.create:team-b', 'apps.create:in-a', 'apps.create:in-b'].reverse();
    expect(await seen(actor('admin'))).toEqual(all);
    expect(await seen(actor('reader'))).toEqual(all);
    expect(await seen(actor('reader', ['team-a']))).toEqual(['apps.create:in-a', 'teams.create:team-a']);
    expect(await seen(actor('deployer', ['team-b']))).toEqual(['apps.create:in-b', 'teams.create:team-b']);
    expect(await seen(actor('reader', ['team-a']), { team: 'team-b' })).toEqual([]);
    expect(await seen(actor('reader', ['team-a']), { app_name: 'in-a' })).toEqual(['apps.create:in-a']);

    const nullTeam = async (who: ReturnType<typeof actor>) =>
      (await callerAs(services(), who).audit.list({ limit: 200 })).items.filter((r) => r.team === null).length;
    expect(await nullTeam(actor('admin'))).toBeGreaterThan(0);
    expect(await nullTeam(actor('reader'))).toBe(0);
    expect(await nullTeam(actor('deployer', ['team-a']))).toBe(0);
  });

  it('pages newest first by id with no gaps or duplicates, also while records are added', async () => {
    const action = `paging.probe${kind}`;
    const write = (i: number) => recordAudit(services(), { actor: { name: 'pager', role: 'admin', tokenId: null }, action, outcome: 'ok', target: `t${i}` });
    for (let i = 0; i < 7; i++) await write(i);
    const ids: number[] = [];
    const targets: string[] = [];
    let cursor: string | undefined;
    for (let pageNo = 0; pageNo < 10; pageNo++) {
      const page = await admin().audit.list({ action, limit: 3, cursor });
      ids.push(...page.items.map((r) => r.id));
      targets.push(...page.items.map((r) => r.target!));
      // Newer records land before the first page: they never shift the pages after it.
      if (pageNo === 0) await write(99);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    expect(targets).toEqual(['t6', 't5', 't4', 't3', 't2', 't1', 't0']);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(new Set(ids).size).toBe(7);
    expect(await outcomeOf(() => admin().audit.list({ cursor: 'bm90LWEtY3Vyc29y' }))).toBe('bad_request');
    expect(await outcomeOf(() => admin().audit.list({ limit: 201 }))).toBe('bad_request');
    expect((await admin().audit.list({ action })).items).toHaveLength(8);
  });

  it('filters by actor, action, outcome and time', async () => {
    const db = services().db;
    const at = (iso: string) => sql`${iso}::timestamptz`;
    await db.insert(auditLog).values([
      { actor: 'timed', action: 'time.probe', outcome: 'ok', team: 'team-a', createdAt: at('2026-01-01T00:00:00Z') },
      { actor: 'timed', action: 'time.probe', outcome: 'forbidden', team: 'team-a', createdAt: at('2026-01-02T00:00:00Z') },
      { actor: 'timed', action: 'time.probe', outcome: 'ok', team: 'team-a', createdAt: at('2026-01-03T00:00:00Z') },
    ]);
    const list = (filter: Record<string, string>) => admin().audit.list({ actor: 'timed', ...filter });
    const days = async (filter: Record<string, string>) => (await list(filter)).items.map((r) => r.at.slice(0, 10));
    expect(await days({})).toEqual(['2026-01-03', '2026-01-02', '2026-01-01']);
    expect(await days({ since: '2026-01-02T00:00:00Z' })).toEqual(['2026-01-03', '2026-01-02']);
    expect(await days({ until: '2026-01-02T00:00:00Z' })).toEqual(['2026-01-01']);
    expect(await days({ since: '2026-01-01T12:00:00+02:00', until: '2026-01-03T00:00:00Z' })).toEqual(['2026-01-02']);
    expect(await days({ outcome: 'forbidden' })).toEqual(['2026-01-02']);
    expect(await days({ action: 'apps.create' })).toEqual([]);
    expect(await outcomeOf(() => list({ since: 'yesterday' }))).toBe('bad_request');
    expect(await outcomeOf(() => list({ since: '2026-01-03T00:00:00Z', until: '2026-01-01T00:00:00Z' }))).toBe('bad_request');
  });

  it('keeps a mutation that succeeded when its record cannot be written, and says so at error level', async () => {
    const lines: string[] = [];
    const log = createLogger('error', {}, (line) => lines.push(line) > 0);
    const db = services().db;
    await db.execute(sql`alter table audit_log rename to audit_log_parked`);
    try {
      const caller = callerAs({ ...services(), log }, actor('deployer'));
      expect(await outcomeOf(() => caller.apps.create({ name: 'unrecorded' }))).toBe('ok');
    } finally {
      await db.execute(sql`alter table audit_log_parked rename to audit_log`);
    }
    expect((await admin().apps.get({ app_name: 'unrecorded' })).name).toBe('unrecorded');
    const lost = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).startsWith('AUDIT RECORD LOST'));
    expect(lost).toMatchObject({ level: 'error', action: 'apps.create', outcome: 'ok', actor: 'deployer-user' });
    expect(String(lost!.error)).toMatch(/audit_log/);
  });
});
