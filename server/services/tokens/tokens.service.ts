import { eq } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { apiTokens, type Role } from '../../../db/schema';
import { generateToken, hashToken } from '../../auth/tokens';
import { notFound } from '../../errors';

export interface IssuedToken {
  id: string;
  /** The only time the plaintext exists outside the caller's hands: show it once. */
  token: string;
  hint: string;
}

/** Issues a database token; only its sha256 and last four characters are stored. */
export async function issueApiToken(db: Queryable, input: { name: string; role: Role; expiresAt?: Date | null; userId?: string | null }): Promise<IssuedToken> {
  const token = generateToken();
  const hint = token.slice(-4);
  const [row] = await db
    .insert(apiTokens)
    .values({ tokenHash: hashToken(token), hint, name: input.name, role: input.role, expiresAt: input.expiresAt ?? null, userId: input.userId ?? null })
    .returning({ id: apiTokens.id });
  return { id: row!.id, token, hint };
}

export async function revokeApiToken(db: Queryable, id: string): Promise<void> {
  const rows = await db.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.id, id)).returning({ id: apiTokens.id });
  if (rows.length === 0) throw notFound('token');
}
