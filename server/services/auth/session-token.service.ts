import { and, eq, isNull } from 'drizzle-orm';
import { apiTokens } from '../../../db/schema';
import type { TLogoutResult, TRefreshResult } from '../../contract/auth';
import { AppError } from '../../errors';
import type { ServiceCtx } from '../context';
import { issueApiToken, revokeApiToken } from '../tokens/tokens.service';
import { CLI_TOKEN_TTL_SECS } from './cli-login.service';

/**
 * Swaps the presented session token for a new one with a fresh expiry, revoking the old one
 * in the same transaction (of two racing refreshes, one wins; the other gets `unauthorized`).
 * Only expiring database tokens qualify: an environment token cannot be revoked by us, and
 * turning a non-expiring (CI) token into a 12-hour one would break whoever else holds it.
 */
export async function refreshSessionToken(ctx: ServiceCtx, now = new Date()): Promise<TRefreshResult> {
  const tokenId = ctx.actor.tokenId;
  if (!tokenId) {
    throw new AppError('bad_request', 'tokens configured on the server (AETHER_API_TOKENS) cannot be refreshed; only `aether login` session tokens can');
  }
  const issued = await ctx.db.transaction(async (tx) => {
    const [old] = await tx
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.id, tokenId), isNull(apiTokens.revokedAt)))
      .returning();
    if (!old) throw new AppError('unauthorized', 'this token was already replaced or revoked');
    // Throwing rolls the revocation back: the token keeps working.
    if (!old.expiresAt) throw new AppError('bad_request', 'this token does not expire; only `aether login` session tokens can be refreshed');
    const expiresAt = new Date(now.getTime() + CLI_TOKEN_TTL_SECS * 1000);
    const fresh = await issueApiToken(tx, { name: old.name, role: old.role, userId: old.userId, expiresAt });
    return { token: fresh.token, expiresAt, name: old.name, role: old.role, id: fresh.id };
  });
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
