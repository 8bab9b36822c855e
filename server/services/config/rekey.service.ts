import { and, asc, eq, gt, sql } from 'drizzle-orm';
import { configVersions, type StoredConfigEntry } from '../../../db/schema';
import { isAppError } from '../../errors';
import { sealedPrefixOf } from '../../secrets/secret-box';
import type { Services } from '../context';
import { secretContext } from './config-rules';
import { withoutParams } from './query-error';

type RekeyServices = Pick<Services, 'db' | 'secrets' | 'log'>;

export interface RekeyResult {
  /** Config versions whose secrets were re-sealed. */
  versions: number;
  /** Secret values re-sealed across them. */
  values: number;
  /** Versions left as they were: a value in them opens under no configured key (each is logged by id). */
  unreadable: number;
}

const PAGE = 100;
const MAX_PASSES = 5;

/**
 * Re-seals under the current key every secret still sealed under another one (the previous key
 * after a rotation): same plaintext, same context, only `sealed` changes. One transaction per
 * version, holding its row lock, so a concurrent pass or reader never sees half a version.
 * Passes repeat until one re-seals nothing: a config change racing a pass copies entries still
 * under the old key into a new version, whose random id may sit behind the pass's cursor, and
 * "done" must mean the previous key can go. Idempotent: a second call finds nothing to do.
 */
export async function rekeySecrets(svc: RekeyServices): Promise<RekeyResult> {
  const result: RekeyResult = { versions: 0, values: 0, unreadable: 0 };
  const unreadable = new Set<string>();
  // Bounded: two workers holding the keys the other way round (mid rolling restart) would hand
  // values back and forth forever; whatever is left, the next job moves.
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const before = result.values;
    await rekeyPass(svc, result, unreadable);
    if (result.values === before) break;
  }
  result.unreadable = unreadable.size;
  return result;
}

async function rekeyPass(svc: RekeyServices, result: RekeyResult, unreadable: Set<string>): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const ids = await versionsNotUnderCurrentKey(svc, after);
    for (const id of ids) {
      if (unreadable.has(id)) continue;
      try {
        const resealed = await rekeyVersion(svc, id);
        if (resealed > 0) {
          result.versions += 1;
          result.values += resealed;
        }
      } catch (err) {
        // The message names the key id, never a value; the rest of the versions still move.
        if (!isAppError(err)) throw err;
        unreadable.add(id);
        svc.log.error('config version holds a secret no configured key opens', { configVersionId: id, reason: err.message });
      }
    }
    if (ids.length < PAGE) return;
    after = ids.at(-1)!;
  }
}

/** Ids (ascending, after `after`) of versions holding a secret not sealed under the current key. */
async function versionsNotUnderCurrentKey(svc: RekeyServices, after: string | null): Promise<string[]> {
  const prefix = sealedPrefixOf(svc.secrets.keyId);
  const stale = sql`exists (
    select 1 from jsonb_each(${configVersions.entries}) as e(name, entry)
    where e.entry->>'secret' = 'true' and not starts_with(coalesce(e.entry->>'sealed', ''), ${prefix})
  )`;
  const rows = await svc.db
    .select({ id: configVersions.id })
    .from(configVersions)
    .where(and(stale, after ? gt(configVersions.id, after) : undefined))
    .orderBy(asc(configVersions.id))
    .limit(PAGE);
  return rows.map((r) => r.id);
}

async function rekeyVersion(svc: RekeyServices, id: string): Promise<number> {
  return svc.db.transaction(async (tx) => {
    const [row] = await tx
      .select({ appId: configVersions.appId, entries: configVersions.entries })
      .from(configVersions)
      .where(eq(configVersions.id, id))
      .for('update');
    if (!row) return 0;
    const entries: Record<string, StoredConfigEntry> = { ...row.entries };
    let resealed = 0;
    for (const [name, entry] of Object.entries(row.entries)) {
      if (!entry.secret || svc.secrets.isCurrent(entry.sealed ?? '')) continue;
      const context = secretContext(row.appId, name);
      entries[name] = { ...entry, sealed: svc.secrets.seal(svc.secrets.open(entry.sealed ?? '', context), context) };
      resealed += 1;
    }
    if (resealed > 0) await withoutParams(`re-sealing config version ${id}`, () => tx.update(configVersions).set({ entries }).where(eq(configVersions.id, id)));
    return resealed;
  });
}
