import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { applications, configVersions } from '../../db/schema';
import { createLogger } from '../../server/logger';
import { createSecretBox, decodeSecretsKey } from '../../server/secrets/secret-box';
import { createSecretBoxFromEnv } from '../../server/secrets/secrets-key';
import type { Services } from '../../server/services/context';
import { secretContext } from '../../server/services/config/config-rules';
import { rekeySecrets } from '../../server/services/config/rekey.service';
import { DB_KINDS, suitePlane } from '../support/harness';

/**
 * A config change during a re-key pass copies the app's entries, still under the old key, into
 * a new version. Ids are random uuids and the pass pages by id: a version made behind its
 * cursor was skipped, the pass reported `unreadable: 0`, the operator dropped the previous key
 * as the docs say, and the app's current config no longer opened (its next deploy failed).
 */
describe.each(DB_KINDS)('re-keying with config changes racing it, on %s', (kind) => {
  const plane = suitePlane(kind);

  it('a version written behind the pass cursor is re-sealed before the job reports done', async () => {
    const base = plane().services;
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: 'rk-race' });
    const secret = `canary-${randomBytes(12).toString('hex')}`;
    await deployer.config.change({ app_name: 'rk-race', secrets: { DB_PASSWORD: secret } });
    // The racing change: on the pass's first re-seal, a new version carrying the old entries,
    // with the smallest uuid there is (behind any cursor), commits with it.
    await base.db.execute(sql.raw('create table test_rekey_raced (done boolean)'));
    await base.db.execute(sql.raw(`
      create function test_rekey_race() returns trigger language plpgsql as $$
      begin
        if not exists (select 1 from test_rekey_raced) then
          insert into test_rekey_raced values (true);
          insert into config_versions (id, app_id, version, entries, created_by)
            values ('00000000-0000-0000-0000-000000000000', old.app_id,
                    (select max(version) + 1 from config_versions where app_id = old.app_id), old.entries, 'racer');
        end if;
        return null;
      end $$`));
    await base.db.execute(sql.raw('create trigger test_rekey_race after update on config_versions for each row execute function test_rekey_race()'));
    const oldKey = decodeSecretsKey(await readFile(path.join(plane().dataDir, 'secrets.key'), 'utf8'));
    const newKey = randomBytes(32);
    const env = { ...base.env, AETHER_SECRETS_KEY: newKey.toString('base64'), AETHER_SECRETS_KEY_PREVIOUS: oldKey.toString('base64') };
    const rotated: Services = { ...base, env, secrets: await createSecretBoxFromEnv(env, createLogger('error')) };
    try {
      const result = await rekeySecrets(rotated);
      expect(result.unreadable).toBe(0);
      expect(result.versions).toBe(2);
    } finally {
      for (const stmt of ['drop trigger test_rekey_race on config_versions', 'drop function test_rekey_race()', 'drop table test_rekey_raced']) {
        await base.db.execute(sql.raw(stmt));
      }
    }
    // Step 4 of the rotation: the previous key is gone. Every version still opens.
    const newOnly = createSecretBox({ current: newKey });
    const [app] = await base.db.select().from(applications).where(eq(applications.name, 'rk-race'));
    const versions = await base.db.select().from(configVersions).where(eq(configVersions.appId, app!.id));
    expect(versions.some((v) => v.createdBy === 'racer')).toBe(true);
    for (const v of versions) {
      for (const [name, entry] of Object.entries(v.entries)) {
        if (entry.secret) expect(newOnly.open(entry.sealed!, secretContext(app!.id, name)), `v${v.version} ${name}`).toBe(secret);
      }
    }
  });
});
