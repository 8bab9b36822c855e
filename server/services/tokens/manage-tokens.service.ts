import { and, desc, gt, inArray, isNull, or, type SQL } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { apiTokens, teams, type Role } from '../../../db/schema';
import type { StaticToken } from '../../auth/tokens';
import { AppError, notFound } from '../../errors';
import { issueApiToken, revokeGrantOf } from './tokens.service';

/** A token as an admin sees it: never its hash or plaintext, only the last four characters. */
export interface TokenView {
  id: string | null;
  name: string;
  role: Role;
  /** The teams it is limited to; null: every team. */
  teams: string[] | null;
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
    teams: t.teams ? [...t.teams] : null,
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
      teams: r.teams ?? null,
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
  teams: string[] | null;
  /** Shown once; only its sha256 is kept. */
  token: string;
  hint: string;
  expires_at: string | null;
}

export interface CreateTokenInput {
  name: string;
  role: Role;
  expiresInDays?: number;
  teams?: readonly string[] | null;
}

/**
 * Issues a token, optionally limited to existing teams. The teams are share-locked until the
 * token exists, so none of them can be deleted in between (deleting a team checks its tokens).
 */
export async function createApiToken(db: Queryable, input: CreateTokenInput, now = new Date()): Promise<CreatedToken> {
  const teamList = input.teams ? [...input.teams] : null;
  if (teamList && input.role === 'admin') {
    throw new AppError('bad_request', 'admin tokens see every team: leave teams out, or give it the deployer or reader role');
  }
  const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 24 * 3600 * 1000) : null;
  const issued = await db.transaction(async (tx) => {
    if (teamList) await lockExistingTeams(tx, teamList);
    return issueApiToken(tx, { name: input.name, role: input.role, teams: teamList, expiresAt });
  });
  const { id, token, hint } = issued;
  return { id, name: input.name, role: input.role, teams: teamList, token, hint, expires_at: iso(expiresAt) };
}

async function lockExistingTeams(tx: Queryable, names: string[]): Promise<void> {
  const found = await tx.select({ name: teams.name }).from(teams).where(inArray(teams.name, names)).for('share');
  const missing = names.filter((n) => !found.some((f) => f.name === n));
  if (missing.length === 0) return;
  const named = missing.map((n) => `"${n}"`).join(', ');
  const many = missing.length > 1;
  throw new AppError('bad_request', `unknown team${many ? 's' : ''}: ${named}; create ${many ? 'them' : 'it'} first`);
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
