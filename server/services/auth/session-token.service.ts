import { and, eq, isNull } from 'drizzle-orm';
import { apiTokens } from '../../../db/schema';
import type { TLogoutResult, TRefreshResult } from '../../contract/auth';
import { publishTokenChange } from '../../auth/token-cache';
import { AppError } from '../../errors';
import type { ServiceCtx } from '../context';
import { issueApiToken, lockGrant, revokeApiToken } from '../tokens/tokens.service';

/**
 * Swaps the presented session token for a new one, revoking the old one in the same
 * transaction (of two racing refreshes, one wins; the other gets `unauthorized`). The new token
 * joins the old one's grant and keeps its expiry: a refresh rotates a token, never extends it,
 * and revoking any token of the grant ends them all. Only expiring database tokens qualify: an
 * environment token cannot be revoked by us, and rotating a non-expiring (CI) token would break
 * whoever else holds it.
 */
export async function refreshSessionToken(ctx: ServiceCtx, now = new Date()): Promise<TRefreshResult> {
  const tokenId = ctx.actor.tokenId;
  if (!tokenId) {
    throw new AppError('bad_request', 'tokens configured on the server (AETHER_API_TOKENS) cannot be refreshed; only `aether login` session tokens can');
  }
  const issued = await ctx.db.transaction(async (tx) => {
    const [presented] = await tx.select({ grantId: apiTokens.grantId }).from(apiTokens).where(eq(apiTokens.id, tokenId)).limit(1);
    if (presented) await lockGrant(tx, presented.grantId);
    const [old] = await tx
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.id, tokenId), isNull(apiTokens.revokedAt)))
      .returning();
    if (!old) throw new AppError('unauthorized', 'this token was already replaced or revoked');
    // Throwing rolls the revocation back: the token keeps working.
    if (!old.expiresAt) throw new AppError('bad_request', 'this token does not expire; only `aether login` session tokens can be refreshed');
    const fresh = await issueApiToken(tx, {
      name: old.name,
      role: old.role,
      teams: old.teams,
      userId: old.userId,
      expiresAt: old.expiresAt,
      parent: { id: old.id, grantId: old.grantId },
    });
    return { token: fresh.token, expiresAt: old.expiresAt, name: old.name, role: old.role, id: fresh.id, grantId: old.grantId };
  });
  await publishTokenChange(ctx.db, issued.grantId);
  ctx.log.info('session token refreshed', { old_id: tokenId, new_id: issued.id, by: ctx.actor.name });
  return { token: issued.token, expires_at: issued.expiresAt.toISOString(), name: issued.name, role: issued.role };
}

/** Revokes the presented token when it is a database token (logout); environment tokens stay. */
export async function revokePresentedToken(ctx: ServiceCtx): Promise<TLogoutResult> {
  if (!ctx.actor.tokenId) return { revoked: false };
  await revokeApiToken(ctx.db, ctx.actor.tokenId);
  ctx.log.info('session token revoked', { id: ctx.actor.tokenId, by: ctx.actor.name });
  return { revoked: true };
}
