import { randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { apiTokens, type Role } from '../../../db/schema';
import { publishTokenChange } from '../../auth/token-cache';
import { generateToken, hashToken } from '../../auth/tokens';
import { notFound } from '../../errors';

export interface IssuedToken {
  id: string;
  /** The only time the plaintext exists outside the caller's hands: show it once. */
  token: string;
  hint: string;
}

export interface IssueTokenInput {
  name: string;
  role: Role;
  /** The teams it is limited to; null or absent: every team. Never set for an admin token. */
  teams?: readonly string[] | null;
  expiresAt?: Date | null;
  userId?: string | null;
  /** The token this one replaces (a refresh): the new token joins its grant. */
  parent?: { id: string; grantId: string };
}

/** Issues a database token; only its sha256 and last four characters are stored. */
export async function issueApiToken(db: Queryable, input: IssueTokenInput): Promise<IssuedToken> {
  const token = generateToken();
  const hint = token.slice(-4);
  // A first token is its own grant, so the id is chosen here rather than by the database.
  const id = randomUUID();
  await db.insert(apiTokens).values({
    id,
    tokenHash: hashToken(token),
    hint,
    name: input.name,
    role: input.role,
    teams: input.role === 'admin' || !input.teams ? null : [...input.teams],
    expiresAt: input.expiresAt ?? null,
    userId: input.userId ?? null,
    grantId: input.parent?.grantId ?? id,
    parentId: input.parent?.id ?? null,
  });
  return { id, token, hint };
}

/**
 * Serialises refreshes and revocations of one grant on its first token's row. Without it a
 * revocation could miss the token a concurrent refresh is inserting. Call inside a transaction.
 */
export async function lockGrant(tx: Queryable, grantId: string): Promise<void> {
  await tx.select({ id: apiTokens.id }).from(apiTokens).where(eq(apiTokens.id, grantId)).for('update');
}

/**
 * Revokes a token and every token refreshed from it: its whole grant, since a refresh revokes
 * the token it replaces and so a grant has at most one live token, the newest. Ancestors keep
 * the time they were replaced. Null when there is no such token.
 */
export async function revokeGrantOf(db: Queryable, id: string, now = new Date()): Promise<{ id: string; revokedAt: Date } | null> {
  const revoked = await db.transaction(async (tx) => {
    const [token] = await tx.select({ grantId: apiTokens.grantId }).from(apiTokens).where(eq(apiTokens.id, id)).limit(1);
    if (!token) return null;
    await lockGrant(tx, token.grantId);
    await tx.update(apiTokens).set({ revokedAt: now }).where(and(eq(apiTokens.grantId, token.grantId), isNull(apiTokens.revokedAt)));
    const [row] = await tx.select({ id: apiTokens.id, revokedAt: apiTokens.revokedAt }).from(apiTokens).where(eq(apiTokens.id, id));
    return row?.revokedAt ? { id: row.id, revokedAt: row.revokedAt, grantId: token.grantId } : null;
  });
  if (!revoked) return null;
  // After the commit: a process that re-reads the token on the message must see it revoked.
  await publishTokenChange(db, revoked.grantId);
  return { id: revoked.id, revokedAt: revoked.revokedAt };
}

export async function revokeApiToken(db: Queryable, id: string): Promise<void> {
  if (!(await revokeGrantOf(db, id))) throw notFound('token');
}
