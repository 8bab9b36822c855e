import { and, asc, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { publicKeys } from '../../../db/schema';
import { SIGNATURE_HEX_RE, type TAddPublicKeyInput, type TPublicKey, type TPublicKeyRef } from '../../contract/keys';
import type { TAppRef } from '../../contract/schemas';
import { AppError, notFound } from '../../errors';
import { getAppForActor, type AppRow } from '../apps/app-access';
import type { ServiceCtx } from '../context';
import { isUsablePublicKey, publicKeyFingerprint, verifyDigestSignature } from '../../contract/ed25519';

type KeyRow = typeof publicKeys.$inferSelect;

function toPublicKeyDto(row: KeyRow, app: AppRow): TPublicKey {
  return {
    key_id: row.id,
    app_id: app.id,
    app_name: app.name,
    public_key_hex: row.publicKeyHex,
    fingerprint: publicKeyFingerprint(row.publicKeyHex),
    active: row.active,
    created_at: row.createdAt.toISOString(),
    deactivated_at: row.deactivatedAt ? row.deactivatedAt.toISOString() : null,
  };
}

/**
 * Registers an Ed25519 public key for an app's artifact signatures. Upsert, as the seed: adding
 * a key the app already has (even a deactivated one) re-activates it and keeps its id.
 * Throws `bad_request` for a key that is not a usable curve point, `not_found` for the app.
 */
export async function addPublicKey(ctx: ServiceCtx, input: TAddPublicKeyInput): Promise<TPublicKey> {
  // The contract already checked the format; this catches the ~half of 32-byte strings that are
  // not curve points and the small-order points that would make forgeries verify.
  if (!isUsablePublicKey(input.public_key_hex)) {
    throw new AppError('bad_request', 'public_key_hex is not a usable Ed25519 public key (not a curve point, or of small order)');
  }
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const [row] = await ctx.db
    .insert(publicKeys)
    .values({ appId: app.id, publicKeyHex: input.public_key_hex })
    .onConflictDoUpdate({ target: [publicKeys.appId, publicKeys.publicKeyHex], set: { active: true, deactivatedAt: null } })
    .returning();
  if (!row) throw new AppError('internal', 'public key upsert returned no row');
  const dto = toPublicKeyDto(row, app);
  ctx.log.info('public key added', { app: app.name, key_id: row.id, fingerprint: dto.fingerprint, by: ctx.actor.name });
  return dto;
}

/** Every key of an app, active or not, oldest first. */
export async function listPublicKeys(
  ctx: Pick<ServiceCtx, 'db' | 'actor' | 'audit'>,
  input: TAppRef,
): Promise<TPublicKey[]> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const rows = await ctx.db.select().from(publicKeys).where(eq(publicKeys.appId, app.id)).orderBy(asc(publicKeys.createdAt), asc(publicKeys.id));
  return rows.map((row) => toPublicKeyDto(row, app));
}

/**
 * Stops a key from verifying new artifacts (artifacts it already verified keep their flag).
 * Idempotent: an inactive key stays inactive with its first `deactivated_at`. A key id of
 * another app is `not_found`, like an unknown one, so ids don't leak across apps.
 */
export async function deactivatePublicKey(ctx: ServiceCtx, input: TPublicKeyRef): Promise<TPublicKey> {
  const app = await getAppForActor(ctx, ctx.db, input.app_name);
  const [row] = await ctx.db
    .update(publicKeys)
    .set({ active: false, deactivatedAt: sql`coalesce(${publicKeys.deactivatedAt}, now())` })
    .where(and(eq(publicKeys.id, input.key_id), eq(publicKeys.appId, app.id)))
    .returning();
  if (!row) throw notFound(`public key ${input.key_id} of app "${app.name}"`);
  ctx.log.info('public key deactivated', { app: app.name, key_id: row.id, by: ctx.actor.name });
  return toPublicKeyDto(row, app);
}

/**
 * The id of the first active key of `appId` (oldest first) whose Ed25519 signature over the
 * ASCII `digest` is `signatureHex`, or null when none verifies (or the signature is malformed).
 * Takes `db` first so the verification job can call it inside its transaction.
 */
export async function findVerifyingKey(db: Queryable, appId: string, digest: string, signatureHex: string): Promise<string | null> {
  if (!SIGNATURE_HEX_RE.test(signatureHex)) return null;
  const keys = await db
    .select({ id: publicKeys.id, publicKeyHex: publicKeys.publicKeyHex })
    .from(publicKeys)
    .where(and(eq(publicKeys.appId, appId), eq(publicKeys.active, true)))
    .orderBy(asc(publicKeys.createdAt), asc(publicKeys.id));
  return keys.find((k) => verifyDigestSignature(k.publicKeyHex, digest, signatureHex))?.id ?? null;
}
