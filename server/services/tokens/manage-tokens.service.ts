import { and, desc, gt, isNull, or, type SQL } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { apiTokens, type Role } from '../../../db/schema';
import type { StaticToken } from '../../auth/tokens';
import { notFound } from '../../errors';
import { issueApiToken, revokeGrantOf } from './tokens.service';

/** A token as an admin sees it: never its hash or plaintext, only the last four characters. */
export interface TokenView {
  id: string | null;
  name: string;
  role: Role;
  /** `environment`: configured in AETHER_API_TOKENS / AETHER_API_TOKEN; changed by redeploying, not here. */
  source: 'database' | 'environment';
  status: 'active' | 'expired' | 'revoked';
  hint: string | null;
  created_at: string | null;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export const TOKEN_LIST_LIMIT = 200;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function statusOf(row: typeof apiTokens.$inferSelect, now: Date): TokenView['status'] {
  if (row.revokedAt) return 'revoked';
  if (row.expiresAt && row.expiresAt <= now) return 'expired';
  return 'active';
}

/** Environment tokens first, then the newest database tokens (active only unless asked). */
export async function listApiTokens(db: Queryable, staticTokens: StaticToken[], opts: { includeInactive: boolean }, now = new Date()): Promise<TokenView[]> {
  const active: SQL | undefined = opts.includeInactive ? undefined : and(isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, now)));
  const rows = await db.select().from(apiTokens).where(active).orderBy(desc(apiTokens.createdAt)).limit(TOKEN_LIST_LIMIT);
  const fromEnv: TokenView[] = staticTokens.map((t) => ({
    id: null,
    name: t.name,
    role: t.role,
    source: 'environment',
    status: 'active',
    hint: null,
    created_at: null,
    last_used_at: null,
    expires_at: null,
    revoked_at: null,
  }));
  return [
    ...fromEnv,
    ...rows.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role,
      source: 'database' as const,
      status: statusOf(r, now),
      hint: r.hint,
      created_at: r.createdAt.toISOString(),
      last_used_at: iso(r.lastUsedAt),
      expires_at: iso(r.expiresAt),
      revoked_at: iso(r.revokedAt),
    })),
  ];
}

export interface CreatedToken {
  id: string;
  name: string;
  role: Role;
  /** Shown once; only its sha256 is kept. */
  token: string;
  hint: string;
  expires_at: string | null;
}

export async function createApiToken(db: Queryable, input: { name: string; role: Role; expiresInDays?: number }, now = new Date()): Promise<CreatedToken> {
  const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 24 * 3600 * 1000) : null;
  const issued = await issueApiToken(db, { name: input.name, role: input.role, expiresAt });
  return { id: issued.id, name: input.name, role: input.role, token: issued.token, hint: issued.hint, expires_at: iso(expiresAt) };
}

/**
 * Idempotent: revoking a revoked token keeps its first revocation time. Tokens refreshed from
 * it are revoked too, so revoking the token an admin created also ends its refreshed successors.
 */
export async function revokeApiTokenOnce(db: Queryable, id: string): Promise<{ id: string; revoked_at: string }> {
  const row = await revokeGrantOf(db, id);
  if (!row) throw notFound('token');
  return { id: row.id, revoked_at: row.revokedAt.toISOString() };
}
