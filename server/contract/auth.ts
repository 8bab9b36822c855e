import { z } from 'zod';
import { ROLES } from '../../db/schema/enums';

/**
 * The CLI's device-authorization login (`aether login`) and session token upkeep. Pure: zod
 * and constants only, so the CLI and the portal page can share the user-code rules.
 */

/**
 * Consonants only (RFC 8628 §6.1): no vowels, so no words; no 0/O or 1/I to misread.
 * 20^8 ≈ 2.6e10 codes, against at most a few pending at once and 10 minutes to guess.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

/** `abcd efgh`, `ABCDEFGH` and `abcd-efgh` are the same code; null when it cannot be one. */
export function normalizeUserCode(raw: string): string | null {
  const letters = raw.toUpperCase().replace(/[^A-Z]/g, '');
  if (letters.length !== 8) return null;
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}

const ZTime = z.iso.datetime();
const ZRole = z.enum(ROLES);

export const ZCliStartResult = z.object({
  /** Secret: only the CLI that started the login holds it. */
  device_code: z.string(),
  /** What the human compares and approves in the portal. */
  user_code: z.string(),
  verification_url: z.string(),
  interval_secs: z.number().int(),
  expires_in_secs: z.number().int(),
});
export type TCliStartResult = z.infer<typeof ZCliStartResult>;

export const ZCliPollInput = z.object({ device_code: z.string().min(1).max(200) });
export type TCliPollInput = z.infer<typeof ZCliPollInput>;

/** What a poll can say. `expired` also covers "already used" and "never existed": start over. */
export const CLI_POLL_STATUSES = ['pending', 'approved', 'denied', 'expired'] as const;
export type CliPollStatus = (typeof CLI_POLL_STATUSES)[number];

export const ZCliPollResult = z.object({
  status: z.enum(CLI_POLL_STATUSES),
  /** Only on the one poll that sees the approval; never again. */
  token: z.string().optional(),
  expires_at: ZTime.optional(),
  user: z.string().optional(),
  role: ZRole.optional(),
  /** Set when the client polled sooner than `interval_secs`: wait longer. */
  slow_down: z.boolean().optional(),
});
export type TCliPollResult = z.infer<typeof ZCliPollResult>;

export const ZUserCodeInput = z.object({ user_code: z.string().min(1).max(32) });
export type TUserCodeInput = z.infer<typeof ZUserCodeInput>;

export const ZCliDecisionResult = z.object({ user_code: z.string(), status: z.enum(['approved', 'denied']) });
export type TCliDecisionResult = z.infer<typeof ZCliDecisionResult>;

export const ZRefreshResult = z.object({ token: z.string(), expires_at: ZTime, name: z.string(), role: ZRole });
export type TRefreshResult = z.infer<typeof ZRefreshResult>;

export const ZLogoutResult = z.object({
  /** False for tokens configured in the environment: only an operator can retire those. */
  revoked: z.boolean(),
});
export type TLogoutResult = z.infer<typeof ZLogoutResult>;
