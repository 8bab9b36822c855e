import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger';
import { sealedPrefixOf } from '../../server/secrets/secret-box';
import { createSecretBoxFromEnv } from '../../server/secrets/secrets-key';
import type { Services } from '../../server/services/context';
import { rekeySecrets } from '../../server/services/config/rekey.service';
import { DB_KINDS, suitePlane } from '../support/harness';

/**
 * Drizzle's query errors repeat the query's parameters in their message (and stack): a failed
 * write of a config version would put every secret's ciphertext and every value into the
 * "procedure crashed" log line, a failed job's reason in Redis and the worker's log. The
 * database refuses the writes here (a trigger) to make those failures happen on purpose.
 */
describe.each(DB_KINDS)('failed config writes name no parameter, on %s', (kind) => {
  const lines: string[] = [];
  const plane = suitePlane(kind, {}, { logLine: (line) => lines.push(line) });
  const plainValue = `plain-${randomBytes(8).toString('hex')}`;
  const refuse = (op: 'INSERT' | 'UPDATE') => [
    sql.raw(`create or replace function test_refuse_config() returns trigger language plpgsql as $$ begin raise exception 'config writes refused by the test'; end $$`),
    sql.raw(`create trigger test_refuse_config before ${op} on config_versions for each row execute function test_refuse_config()`),
  ];
  const allow = sql.raw('drop trigger if exists test_refuse_config on config_versions');

  it('a config change whose version cannot be written fails as internal; no log line carries a ciphertext or value', async () => {
    const { db, secrets } = plane().services;
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: 'qe-app' });
    await deployer.config.change({ app_name: 'qe-app', secrets: { EXISTING: `s-${randomBytes(8).toString('hex')}` }, set: { PLAIN: plainValue } });
    for (const stmt of refuse('INSERT')) await db.execute(stmt);
    try {
      lines.length = 0;
      const err = await deployer.config.change({ app_name: 'qe-app', secrets: { NEW_ONE: `s-${randomBytes(8).toString('hex')}` } }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      // A server-side caller (the portal's) gets the error itself: it names no parameter either.
      expect(err?.message).toMatch(/^writing config version 3 of app [0-9a-f-]+ failed: config writes refused by the test$/);
      const crashed = lines.filter((l) => l.includes('procedure crashed'));
      expect(crashed).toHaveLength(1);
      expect(crashed[0]).toContain('config writes refused by the test');
      const all = lines.join('\n');
      expect(all).not.toContain(sealedPrefixOf(secrets.keyId));
      expect(all).not.toContain(plainValue);
    } finally {
      await db.execute(allow);
    }
  });

  it('a re-key pass whose update fails throws without the ciphertexts (the job stores its message and stack)', async () => {
    const base = plane().services;
    const next = randomBytes(32);
    const env = { ...base.env, AETHER_SECRETS_KEY: next.toString('base64'), AETHER_SECRETS_KEY_PREVIOUS: undefined };
    // The data-dir key the values are under stays readable as the previous one.
    const { readFile } = await import('node:fs/promises');
    const previous = (await readFile(`${plane().dataDir}/secrets.key`, 'utf8')).trim();
    const rotatedEnv = { ...env, AETHER_SECRETS_KEY_PREVIOUS: previous };
    const rotated: Services = { ...base, env: rotatedEnv, secrets: await createSecretBoxFromEnv(rotatedEnv, createLogger('error')) };
    for (const stmt of refuse('UPDATE')) await base.db.execute(stmt);
    try {
      const err = await rekeySecrets(rotated).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toContain('config writes refused by the test');
      for (const text of [err!.message, err!.stack ?? '']) {
        expect(text).not.toContain(sealedPrefixOf(base.secrets.keyId));
        expect(text).not.toContain(sealedPrefixOf(rotated.secrets.keyId));
        expect(text).not.toContain(plainValue);
      }
    } finally {
      await base.db.execute(allow);
    }
    // Once the database takes writes again, the pass completes.
    expect(await rekeySecrets(rotated)).toMatchObject({ values: 1, unreadable: 0 });
  });
});
