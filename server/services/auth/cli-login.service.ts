import { randomBytes, randomInt } from 'node:crypto';
import { and, eq, gt, isNull, lt, or } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { apiTokens, cliLogins } from '../../../db/schema';
import { isUniqueViolation } from '../../../db/errors';
import { hashToken } from '../../auth/tokens';
import {
  normalizeUserCode,
  USER_CODE_ALPHABET,
  type TCliDecisionResult,
  type TCliPollInput,
  type TCliPollResult,
  type TCliStartResult,
  type TUserCodeInput,
} from '../../contract/auth';
import { AppError } from '../../errors';
import { recordAudit } from '../audit/record';
import type { ServiceCtx, Services } from '../context';
import { issueApiToken } from '../tokens/tokens.service';

/** Long enough to switch to a browser and sign in; short enough that a stray code dies soon. */
export const CLI_LOGIN_TTL_SECS = 600;
/** A poll is one indexed lookup; 2 s keeps the terminal feeling immediate after "Approve". */
export const CLI_POLL_INTERVAL_SECS = 2;
/** A CLI login lasts half a day: `auth.refresh` rotates its token but never extends it. */
export const CLI_TOKEN_TTL_SECS = 12 * 3600;

type Row = typeof cliLogins.$inferSelect;

function generateUserCode(): string {
  const pick = () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  const letters = Array.from({ length: 8 }, pick).join('');
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}

/** The approver's own name: a portal session opened with a CLI token must not stack suffixes. */
export function baseUserName(name: string): string {
  return name.replace(/ \(cli\)$/, '');
}

/**
 * Starts a device login: the device code goes to the CLI only (we keep its sha256), the user
 * code to the human. Retries the rare user-code collision with another pending login.
 */
export async function startCliLogin(ctx: Pick<Services, 'db' | 'env'>, now = new Date()): Promise<TCliStartResult> {
  const deviceCode = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + CLI_LOGIN_TTL_SECS * 1000);
  for (let attempt = 0; ; attempt++) {
    const userCode = generateUserCode();
    try {
      await ctx.db.insert(cliLogins).values({ deviceCodeHash: hashToken(deviceCode), userCode, expiresAt, createdAt: now });
      return {
        device_code: deviceCode,
        user_code: userCode,
        verification_url: `${ctx.env.AETHER_PUBLIC_URL}/login/cli?code=${userCode}`,
        interval_secs: CLI_POLL_INTERVAL_SECS,
        expires_in_secs: CLI_LOGIN_TTL_SECS,
      };
    } catch (err) {
      if (!isUniqueViolation(err) || attempt >= 4) throw err;
    }
  }
}

/**
 * One poll of the CLI. Never fails for the login's state: unknown, used and timed-out device
 * codes all answer `expired` (the client's move is the same: start over), so the answer does
 * not depend on whether old rows were cleaned up yet. The approved login hands out its token
 * exactly once.
 */
export async function pollCliLogin(ctx: Pick<Services, 'db' | 'log'>, input: TCliPollInput, now = new Date()): Promise<TCliPollResult> {
  const [row] = await ctx.db.select().from(cliLogins).where(eq(cliLogins.deviceCodeHash, hashToken(input.device_code))).limit(1);
  if (!row || row.status === 'consumed' || row.status === 'expired') return { status: 'expired' };
  if (row.status === 'denied') return { status: 'denied' };
  if (row.expiresAt <= now) {
    await ctx.db.update(cliLogins).set({ status: 'expired' }).where(and(eq(cliLogins.id, row.id), eq(cliLogins.status, row.status)));
    return { status: 'expired' };
  }
  if (row.status === 'approved') return consume(ctx, row, now);

  // Half the interval of slack absorbs timer and network jitter of a well-behaved client.
  const tooSoon = row.lastPolledAt !== null && now.getTime() - row.lastPolledAt.getTime() < CLI_POLL_INTERVAL_SECS * 500;
  await ctx.db.update(cliLogins).set({ lastPolledAt: now }).where(eq(cliLogins.id, row.id));
  return tooSoon ? { status: 'pending', slow_down: true } : { status: 'pending' };
}

/** approved -> consumed and a fresh token, in one transaction: of two racing polls one wins. */
async function consume(ctx: Pick<Services, 'db' | 'log'>, row: Row, now: Date): Promise<TCliPollResult> {
  const result = await ctx.db.transaction(async (tx) => {
    const [claimed] = await tx
      .update(cliLogins)
      .set({ status: 'consumed', lastPolledAt: now })
      .where(and(eq(cliLogins.id, row.id), eq(cliLogins.status, 'approved')))
      .returning();
    if (!claimed?.approvedByName || !claimed.approvedRole) return null;
    let expiresAt = new Date(now.getTime() + CLI_TOKEN_TTL_SECS * 1000);
    if (claimed.approvedByTokenId) {
      // Approved with a database token: only while its grant lives, and never for longer.
      const approver = await liveGrantOf(tx, claimed.approvedByTokenId, now);
      if (!approver) return null;
      if (approver.expiresAt && approver.expiresAt < expiresAt) expiresAt = approver.expiresAt;
    }
    const issued = await issueApiToken(tx, {
      name: `${claimed.approvedByName} (cli)`,
      role: claimed.approvedRole,
      teams: claimed.approvedTeams,
      expiresAt,
    });
    await tx.update(cliLogins).set({ tokenId: issued.id }).where(eq(cliLogins.id, row.id));
    return { token: issued.token, tokenId: issued.id, expiresAt, user: claimed.approvedByName, role: claimed.approvedRole };
  });
  if (!result) return { status: 'expired' };
  ctx.log.info('cli login completed', { login_id: row.id, user: result.user, role: result.role });
  // The poll is anonymous (the device code is its credential), so the sign-in is recorded here.
  const actor = { name: `${result.user} (cli)`, role: result.role, tokenId: result.tokenId };
  const detail = { via: 'cli', login_id: row.id };
  await recordAudit(ctx, { actor, action: 'auth.signIn', outcome: 'ok', target: result.user, detail });
  return { status: 'approved', token: result.token, expires_at: result.expiresAt.toISOString(), user: result.user, role: result.role };
}

/**
 * The live token of the grant `tokenId` belongs to (a refresh since the approval moved it on),
 * or null when the grant was revoked or has expired.
 */
async function liveGrantOf(tx: Queryable, tokenId: string, now: Date): Promise<{ expiresAt: Date | null } | null> {
  const [token] = await tx.select({ grantId: apiTokens.grantId }).from(apiTokens).where(eq(apiTokens.id, tokenId)).limit(1);
  if (!token) return null;
  const [live] = await tx
    .select({ expiresAt: apiTokens.expiresAt })
    .from(apiTokens)
    .where(and(eq(apiTokens.grantId, token.grantId), isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, now))))
    .limit(1);
  return live ?? null;
}

/**
 * The signed-in user approves (with their own role and teams: a reader limited to team `a`
 * yields a reader token limited to `a`) or denies a pending login by its user code. Anything
 * not pending and unexpired under that code is `not_found`, so codes cannot be probed.
 */
export async function decideCliLogin(
  ctx: ServiceCtx,
  input: TUserCodeInput,
  decision: 'approved' | 'denied',
  now = new Date(),
): Promise<TCliDecisionResult> {
  const userCode = normalizeUserCode(input.user_code);
  const [row] = userCode
    ? await ctx.db
        .update(cliLogins)
        // approved_by_name records whoever decided, so a denial is attributable too.
        .set({
          status: decision,
          approvedByName: baseUserName(ctx.actor.name),
          approvedRole: decision === 'approved' ? ctx.actor.role : null,
          approvedTeams: decision === 'approved' && ctx.actor.teams ? [...ctx.actor.teams] : null,
          approvedByTokenId: decision === 'approved' ? ctx.actor.tokenId : null,
        })
        .where(and(eq(cliLogins.userCode, userCode), eq(cliLogins.status, 'pending'), gt(cliLogins.expiresAt, now)))
        .returning({ id: cliLogins.id })
    : [];
  if (!row || !userCode) throw new AppError('not_found', 'no pending login with that code (it may have expired or been used)');
  ctx.log.info(`cli login ${decision}`, { login_id: row.id, by: ctx.actor.name, role: ctx.actor.role });
  return { user_code: userCode, status: decision };
}

/** Finished logins are kept a day for the record, then deleted (the maintenance sweep). */
const CLI_LOGIN_KEEP_MS = 24 * 3600 * 1000;

/** Deletes login rows whose code expired over a day ago, whatever their status; returns how many. */
export async function purgeOldCliLogins(ctx: Pick<Services, 'db'>, now = new Date()): Promise<number> {
  const gone = await ctx.db
    .delete(cliLogins)
    .where(lt(cliLogins.expiresAt, new Date(now.getTime() - CLI_LOGIN_KEEP_MS)))
    .returning({ id: cliLogins.id });
  return gone.length;
}
