import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { configVersions, deployments } from '../../db/schema';
import type { TConfigView } from '../../server/contract/config';
import { envAppArtifact, storeArtifact } from '../support/env-app';
import { callFace } from '../support/faces';
import { DB_KINDS, suitePlane } from '../support/harness';
import { planeState } from '../support/plane-state';
import { trpcCodeOf } from '../support/trpc-code';

/**
 * Config versions without processes (no worker runs, so a deployment stays in flight as long
 * as a test needs): concurrent changes are numbered one after the other and none is lost,
 * expected_version lets exactly one of two racing edits win, a change that changes nothing makes
 * no version, and a deployment records the version it runs with.
 */
describe.each(DB_KINDS)('config versions, on %s', { timeout: 60_000 }, (kind) => {
  const plane = suitePlane(kind);
  const deployer = () => plane().caller('deployer');
  const versionsOf = async (appId: string) => {
    const rows = await plane().services.db.select({ version: configVersions.version }).from(configVersions).where(eq(configVersions.appId, appId));
    return rows.map((r) => r.version).sort((a, b) => a - b);
  };

  it('concurrent changes of one app are all kept, numbered 2..13 without gaps', async () => {
    const app = await deployer().apps.create({ name: 'racing' });
    const names = Array.from({ length: 12 }, (_, i) => `RACE_${i}`);
    const results = await Promise.all(names.map((n) => deployer().config.change({ app_name: 'racing', set: { [n]: n.toLowerCase() }, deploy: false })));
    expect(results.map((r) => r.config.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    expect(await versionsOf(app.id)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    const view = await deployer().config.list({ app_name: 'racing' });
    expect(view.version).toBe(13);
    expect(view.entries.map((e) => e.name)).toEqual([...names].sort());
  });

  it('of two edits racing with the same expected_version, exactly one wins; the other is a conflict', async () => {
    const { version } = await deployer().config.list({ app_name: 'racing' });
    const edit = (n: string) => deployer().config.change({ app_name: 'racing', set: { [`EDIT_${n}`]: n }, deploy: false, expected_version: version });
    const codes = await Promise.all(['A', 'B'].map((n) => trpcCodeOf(() => edit(n))));
    expect(codes.sort()).toEqual(['CONFLICT', 'OK']);
    const after = await deployer().config.list({ app_name: 'racing' });
    expect(after.version).toBe(version + 1);
    expect(after.entries.filter((e) => e.name.startsWith('EDIT_'))).toHaveLength(1);
  });

  it('a change that changes nothing makes no version; re-setting a secret does (a new ciphertext and time)', async () => {
    const before = await deployer().config.list({ app_name: 'racing' });
    const same = await deployer().config.change({ app_name: 'racing', set: { RACE_0: 'race_0' }, unset: ['NEVER_SET'], deploy: false });
    expect(same.changes).toEqual({ set: [], unset: [], settings: [] });
    expect(same.config.version).toBe(before.version);
    expect((await deployer().config.list({ app_name: 'racing' })).version).toBe(before.version);

    await deployer().config.change({ app_name: 'racing', secrets: { TOKEN_X: 'same-value' }, deploy: false });
    const again = await deployer().config.change({ app_name: 'racing', secrets: { TOKEN_X: 'same-value' }, deploy: false });
    expect(again.changes.set).toEqual(['TOKEN_X']);
    expect(again.config.version).toBe(before.version + 2);
  });

  it('untouched entries keep when and by whom they were set; a changed one names its new author', async () => {
    const before = await deployer().config.list({ app_name: 'racing' });
    await plane().caller('admin').config.change({ app_name: 'racing', set: { RACE_1: 'changed by admin' }, deploy: false });
    const after = await deployer().config.list({ app_name: 'racing' });
    const of = (v: TConfigView, n: string) => v.entries.find((e) => e.name === n)!;
    expect(of(after, 'RACE_1')).toMatchObject({ value: 'changed by admin', set_by: 'admin-user' });
    expect(Date.parse(of(after, 'RACE_1').set_at)).toBeGreaterThanOrEqual(Date.parse(of(before, 'RACE_1').set_at));
    expect(of(after, 'RACE_2')).toEqual(of(before, 'RACE_2'));
    expect(of(after, 'TOKEN_X')).toEqual(of(before, 'TOKEN_X'));
  });

  it('a deployment records the config version it runs with; a change while it is in flight is refused, changing nothing', async () => {
    const app = await deployer().apps.create({ name: 'inflight' });
    await deployer().config.change({ app_name: 'inflight', set: { STAGE: 'one' } });
    const digest = await storeArtifact(plane(), 'inflight', envAppArtifact());
    const { deployment } = await deployer().deployments.create({ app_name: 'inflight', digest });
    const [row] = await plane().services.db.select().from(deployments).where(eq(deployments.id, deployment.id));
    const [pointer] = await plane().services.db.select().from(configVersions).where(eq(configVersions.id, row!.configVersionId));
    expect(pointer).toMatchObject({ appId: app.id, version: 2 });
    expect(pointer!.entries).toMatchObject({ STAGE: { secret: false, value: 'one' } });

    const before = await planeState(plane());
    for (const face of ['trpc', 'rest'] as const) {
      const res = await callFace(plane(), face, { op: 'configChange', input: { app_name: 'inflight', set: { STAGE: 'two' } } });
      expect({ status: res.status, code: res.code }).toEqual({ status: 409, code: 'conflict' });
      expect(res.message).toMatch(new RegExp(`deployment ${deployment.id} .* is pending`));
      const settings = await callFace(plane(), face, { op: 'updateApp', input: { app_name: 'inflight', health_path: '/ready' } });
      expect({ status: settings.status, code: settings.code }).toEqual({ status: 409, code: 'conflict' });
    }
    expect(await planeState(plane())).toEqual(before);
    // Staging is still allowed: it races nothing.
    const staged = await deployer().config.change({ app_name: 'inflight', set: { STAGE: 'two' }, deploy: false });
    expect(staged).toMatchObject({ deployment: null, config: { version: 3 } });
  });
});
