import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { eq, inArray } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { applications, configVersions, type StoredConfigEntry } from '../../db/schema';
import { startWorkers } from '../../jobs/start';
import { QUEUE_DEFS } from '../../server/queues/definitions';
import { createLogger } from '../../server/logger';
import { createSecretBox, decodeSecretsKey, keyIdOf, type SecretBox } from '../../server/secrets/secret-box';
import { createSecretBoxFromEnv } from '../../server/secrets/secrets-key';
import type { Services } from '../../server/services/context';
import { secretContext } from '../../server/services/config/config-rules';
import { rekeySecrets } from '../../server/services/config/rekey.service';
import { DB_KINDS, suitePlane, type TestPlane } from '../support/harness';
import { pollUntil } from '../support/poll';

type Entries = Record<string, StoredConfigEntry>;

/** A secret value nobody could guess, so a search for it in logs or payloads means a leak. */
const canary = () => `canary-${randomBytes(12).toString('hex')}`;

interface Seeded {
  /** config version id -> name -> plaintext of each secret */
  plain: Map<string, Record<string, string>>;
  ids: string[];
}

/**
 * `apps` apps with `versions` config versions each: two secrets sealed by `box` and one plain
 * variable per version, like the config service writes them.
 */
async function seed(svc: Services, box: SecretBox, apps: number, versions: number): Promise<Seeded> {
  const plain = new Map<string, Record<string, string>>();
  const ids: string[] = [];
  for (let a = 0; a < apps; a++) {
    const [app] = await svc.db.insert(applications).values({ name: `rekey-${randomUUID().slice(0, 8)}`, owner: 'test' }).returning();
    const rows = Array.from({ length: versions }, (_, v) => {
      const secrets = { DATABASE_URL: canary(), API_KEY: canary() };
      const entries: Entries = { LOG_LEVEL: { secret: false, value: 'debug', set_at: '2026-01-01T00:00:00.000Z', set_by: 'ops' } };
      for (const [name, value] of Object.entries(secrets)) {
        entries[name] = { secret: true, sealed: box.seal(value, secretContext(app!.id, name)), set_at: `2026-01-0${1 + (v % 9)}T00:00:00.000Z`, set_by: 'ops' };
      }
      return { row: { appId: app!.id, version: v + 1, entries, createdBy: 'ops' }, secrets };
    });
    const inserted = await svc.db.insert(configVersions).values(rows.map((r) => r.row)).returning({ id: configVersions.id });
    inserted.forEach(({ id }, i) => {
      plain.set(id, rows[i]!.secrets);
      ids.push(id);
    });
  }
  return { plain, ids };
}

async function rowsOf(svc: Services, ids: string[]) {
  const rows = await svc.db.select().from(configVersions).where(inArray(configVersions.id, ids));
  return new Map(rows.map((r) => [r.id, r]));
}

/** Every secret of `ids` opens under `box` to its seeded plaintext; returns how many are under its current key. */
async function expectPlaintexts(svc: Services, box: SecretBox, seeded: Seeded): Promise<{ current: number; total: number }> {
  let current = 0;
  let total = 0;
  for (const [id, row] of await rowsOf(svc, seeded.ids)) {
    for (const [name, value] of Object.entries(seeded.plain.get(id)!)) {
      const sealed = row.entries[name]!.sealed!;
      expect(box.open(sealed, secretContext(row.appId, name))).toBe(value);
      total += 1;
      if (box.isCurrent(sealed)) current += 1;
    }
  }
  return { current, total };
}

/** The services of a process restarted with `AETHER_SECRETS_KEY=next` and the old key as previous. */
async function rotatedServices(plane: TestPlane, next: Buffer, previous: Buffer, log = plane.services.log): Promise<Services> {
  const env = { ...plane.services.env, AETHER_SECRETS_KEY: next.toString('base64'), AETHER_SECRETS_KEY_PREVIOUS: previous.toString('base64') };
  return { ...plane.services, env, log, secrets: await createSecretBoxFromEnv(env, log) };
}

describe.each(DB_KINDS)('secrets key rotation on %s', (kind) => {
  // No key in the environment: the embedded default, a key made in the data dir.
  const plane = suitePlane(kind);
  const keyB = randomBytes(32);
  let keyA: Buffer;
  let seeded: Seeded;
  /** The key every value of `seeded` is under after the last test. */
  let underKey: Buffer;

  it('makes the data-dir key once, 0600, and reuses it', async () => {
    const file = path.join(plane().dataDir, 'secrets.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    keyA = decodeSecretsKey(await readFile(file, 'utf8'));
    expect(plane().services.secrets.keyId).toBe(keyIdOf(keyA));
    const again = await createSecretBoxFromEnv(plane().services.env, createLogger('error'));
    expect(again.keyId).toBe(keyIdOf(keyA));
  });

  it('opens values sealed under the old key once the new key is current', async () => {
    seeded = await seed(plane().services, plane().services.secrets, 3, 40);
    const rotated = await rotatedServices(plane(), keyB, keyA);
    expect(rotated.secrets.keyId).toBe(keyIdOf(keyB));
    expect(await expectPlaintexts(rotated, rotated.secrets, seeded)).toEqual({ current: 0, total: 240 });
  });

  it('re-seals every old value under the new key, changing nothing else, and a second pass changes nothing', async () => {
    const rotated = await rotatedServices(plane(), keyB, keyA);
    const before = await rowsOf(rotated, seeded.ids);
    expect(await rekeySecrets(rotated)).toEqual({ versions: 120, values: 240, unreadable: 0 });

    const after = await rowsOf(rotated, seeded.ids);
    for (const [id, row] of after) {
      const old = before.get(id)!;
      expect({ ...row, entries: null }).toEqual({ ...old, entries: null });
      expect(Object.keys(row.entries).sort()).toEqual(Object.keys(old.entries).sort());
      for (const [name, entry] of Object.entries(row.entries)) {
        const { sealed, ...rest } = entry;
        const { sealed: oldSealed, ...oldRest } = old.entries[name]!;
        expect(rest, name).toEqual(oldRest);
        if (entry.secret) expect(sealed).not.toBe(oldSealed);
        else expect(entry).toEqual(old.entries[name]);
      }
    }
    // The new key alone opens everything now: the old one can be dropped.
    const newKeyOnly = createSecretBox({ current: keyB });
    expect(await expectPlaintexts(rotated, newKeyOnly, seeded)).toEqual({ current: 240, total: 240 });
    expect(await rekeySecrets(rotated)).toEqual({ versions: 0, values: 0, unreadable: 0 });
    expect(await rowsOf(rotated, seeded.ids)).toEqual(after);
  });

  it('re-seals each value once when two passes race (row locks)', async () => {
    const keyC = randomBytes(32);
    const rotated = await rotatedServices(plane(), keyC, keyB);
    const passes = await Promise.all([rekeySecrets(rotated), rekeySecrets(rotated), rekeySecrets(rotated)]);
    expect(passes.reduce((n, p) => n + p.values, 0)).toBe(240);
    expect(passes.reduce((n, p) => n + p.versions, 0)).toBe(120);
    expect(await expectPlaintexts(rotated, createSecretBox({ current: keyC }), seeded)).toEqual({ current: 240, total: 240 });
    underKey = keyC;
  });

  it('leaves a version under an unknown key untouched, reports it by id, and still moves the rest', async () => {
    const keyC = underKey;
    const lines: string[] = [];
    const log = createLogger('info', {}, (l) => lines.push(l) > 0);
    const stranger = await seed(plane().services, createSecretBox({ current: randomBytes(32) }), 1, 1);
    const movable = await seed(plane().services, createSecretBox({ current: keyC }), 1, 2);
    const rotated = await rotatedServices(plane(), keyB, keyC, log);
    const before = await rowsOf(rotated, stranger.ids);
    expect(await rekeySecrets(rotated)).toEqual({ versions: 122, values: 244, unreadable: 1 });
    expect(await rowsOf(rotated, stranger.ids)).toEqual(before);
    expect(await expectPlaintexts(rotated, createSecretBox({ current: keyB }), movable)).toEqual({ current: 4, total: 4 });
    const reports = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 'error');
    expect(reports).toEqual([expect.objectContaining({ msg: 'config version holds a secret no configured key opens', configVersionId: stranger.ids[0] })]);
    for (const value of Object.values(stranger.plain.get(stranger.ids[0]!)!)) expect(lines.join('\n')).not.toContain(value);
    await plane().services.db.delete(configVersions).where(eq(configVersions.id, stranger.ids[0]!));
    underKey = keyB;
  });

  it('runs as the secrets-rekey job on a worker started during a rotation, logging counts only', async () => {
    const old = underKey;
    const fresh = await seed(plane().services, createSecretBox({ current: old }), 2, 5);
    const next = randomBytes(32);
    const lines: string[] = [];
    const rotated = await rotatedServices(plane(), next, old, createLogger('info', {}, (l) => lines.push(l) > 0));
    const workers = startWorkers(rotated);
    try {
      await workers.ready;
      const box = createSecretBox({ current: next });
      const countCurrent = async () => {
        const rows = await rowsOf(rotated, [...seeded.ids, ...fresh.ids]);
        return [...rows.values()].flatMap((r) => Object.values(r.entries)).filter((e) => e.secret && box.isCurrent(e.sealed!)).length;
      };
      expect(await pollUntil(countCurrent, (n) => n === 240 + 20, 20_000)).toBe(260);
      expect(await expectPlaintexts(rotated, box, fresh)).toEqual({ current: 20, total: 20 });

      // The start-up job and the daily scheduler's first run may both pass: together they moved
      // 120 seeded + 2 (previous test) + 10 fresh versions, each once.
      const passes = () => lines.map((l) => JSON.parse(l) as Record<string, number | string>).filter((l) => l.msg === 'config secrets re-encrypted');
      const sum = (key: string) => passes().reduce((n, p) => n + Number(p[key]), 0);
      expect(await pollUntil(async () => sum('values'), (n) => n >= 264, 10_000)).toBe(264);
      expect([sum('versions'), sum('unreadable')]).toEqual([132, 0]);
      expect(passes()[0]).toMatchObject({ level: 'info', keyId: keyIdOf(next) });
      expect(passes().map((p) => p.jobId)).toContain('secrets-rekey-now');
      const q = rotated.queues.secretsRekey;
      const jobs = await q.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed']);
      expect(jobs.every((j) => j.name === QUEUE_DEFS.secretsRekey.jobName && JSON.stringify(j.data) === '{}')).toBe(true);
      const text = lines.join('\n');
      for (const values of [...seeded.plain.values(), ...fresh.plain.values()]) for (const v of Object.values(values)) expect(text).not.toContain(v);
      expect(text).not.toContain(next.toString('base64'));
      expect(text).not.toContain(old.toString('base64'));
    } finally {
      await workers.stop(5000);
    }
  });
});
