import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { Queryable } from '../../db/client';
import { apiTokens } from '../../db/schema';
import { AppError } from '../errors';
import { APP_NAME_RE as TEAM_NAME_RE } from '../contract/app-name';
import { isRole, type Actor, type Role } from './roles';
import { tokenCacheOf } from './token-cache';

/** Tokens are kept and compared only as sha256 hex: a leaked table or log reveals no token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface StaticToken {
  hash: string;
  role: Role;
  name: string;
  /** null: every team. */
  teams: readonly string[] | null;
}

/**
 * Parses `AETHER_API_TOKENS` (`token:role[:name[:team1+team2]]`, comma separated) and the single
 * `AETHER_API_TOKEN` (an admin). A malformed entry fails startup, naming its position but
 * never its text, instead of being skipped and leaving someone locked out silently.
 */
export function parseStaticTokens(csv: string | undefined, single?: string): StaticToken[] {
  const out: StaticToken[] = [];
  const entries = (csv ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  entries.forEach((entry, i) => {
    const [token, role, name, teamList, ...extra] = entry.split(':');
    if (!token || !role || !isRole(role) || token.length < 8 || extra.length > 0) {
      throw new Error(`AETHER_API_TOKENS entry ${i + 1} is not token:role[:name[:team1+team2]] with role admin|deployer|reader and a token of 8+ characters`);
    }
    // A fourth field that is present but empty is a mistake (an unset variable), not "every team".
    const teams = teamList !== undefined ? teamList.split('+') : null;
    if (teams && (role === 'admin' || teams.some((t) => !TEAM_NAME_RE.test(t)))) {
      throw new Error(`AETHER_API_TOKENS entry ${i + 1}: teams must be team names joined by "+", and admin tokens cannot be limited to teams`);
    }
    out.push({ hash: hashToken(token), role, name: name || `${role}-${i + 1}`, teams });
  });
  if (single) out.push({ hash: hashToken(single), role: 'admin', name: 'admin', teams: null });
  // One secret with two roles or team lists would silently mean whichever comes first.
  out.forEach((t, i) => {
    const first = out.findIndex((o) => o.hash === t.hash);
    if (first === i) return;
    const which = i < entries.length ? `AETHER_API_TOKENS entry ${i + 1}` : 'AETHER_API_TOKEN';
    throw new Error(`${which} repeats the token of AETHER_API_TOKENS entry ${first + 1}`);
  });
  return out;
}

function findStatic(tokens: StaticToken[], hash: string): StaticToken | undefined {
  const probe = Buffer.from(hash, 'hex');
  return tokens.find((t) => timingSafeEqual(Buffer.from(t.hash, 'hex'), probe));
}

// Writing last_used_at on every request would turn reads into writes; a minute is precise enough.
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Resolves a bearer token to an actor: environment tokens first, then database tokens that
 * are neither revoked nor expired, through the process's token cache when `db` has one (see
 * ./token-cache.ts). Throws `unauthorized` for an unknown token.
 */
export async function authenticateToken(db: Queryable, staticTokens: StaticToken[], token: string, now = new Date()): Promise<Actor> {
  const hash = hashToken(token);
  const fromEnv = findStatic(staticTokens, hash);
  if (fromEnv) return { name: fromEnv.name, role: fromEnv.role, tokenId: null, teams: fromEnv.teams };

  const cache = tokenCacheOf(db);
  const cached = cache?.get(hash, now);
  if (cached) return cached;
  const stamp = cache?.stamp() ?? 0;
  const [row] = await db.select().from(apiTokens).where(eq(apiTokens.tokenHash, hash)).limit(1);
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= now)) {
    throw new AppError('unauthorized', 'invalid, expired or revoked token');
  }
  const staleBefore = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
  // Skip the round trip when the row just read is fresh; the WHERE still guards concurrent writers.
  if (!row.lastUsedAt || row.lastUsedAt < staleBefore) {
    await db
      .update(apiTokens)
      .set({ lastUsedAt: now })
      .where(and(eq(apiTokens.id, row.id), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, staleBefore))));
  }
  const actor: Actor = { name: row.name, role: row.role, tokenId: row.id, teams: row.role === 'admin' ? null : (row.teams ?? null) };
  cache?.set(hash, stamp, { actor, grantId: row.grantId, expiresAt: row.expiresAt });
  return actor;
}

/** Extracts the token from an `Authorization: Bearer <token>` header value. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

export function generateToken(): string {
  return `aet_${randomBytes(32).toString('base64url')}`;
}
