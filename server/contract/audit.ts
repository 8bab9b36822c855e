import { z } from 'zod';
import { ZAppName } from './apps';
import { ZTeamName } from './teams';

/**
 * The audit log as clients read it: one record per mutation, newest first, in keyset pages.
 * Pure: zod only.
 */

const ZLimit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);
const ZTime = z.iso.datetime({ offset: true });

export const ZAuditListInput = z.object({
  /** Records whose target is this app. */
  app_name: ZAppName.optional(),
  team: ZTeamName.optional(),
  /** The actor's name, exactly. */
  actor: z.string().trim().min(1).max(200).optional(),
  /** A procedure path such as `apps.create`, exactly. */
  action: z.string().regex(/^[A-Za-z][A-Za-z0-9.]{0,99}$/, 'action must look like apps.create').optional(),
  /** `ok`, or an error code such as `forbidden`. */
  outcome: z.string().regex(/^[a-z][a-z_]{0,63}$/, 'outcome must be ok or an error code').optional(),
  /** Records at or after this time (ISO 8601). */
  since: ZTime.optional(),
  /** Records before this time (ISO 8601). */
  until: ZTime.optional(),
  limit: ZLimit(200, 50),
  /** Opaque cursor from the previous page's `next_cursor`. */
  cursor: z.string().max(200).optional(),
});
export type TAuditListInput = z.infer<typeof ZAuditListInput>;

export const ZAuditRecord = z.object({
  id: z.number().int(),
  at: z.iso.datetime(),
  actor: z.string(),
  /** Null when the actor is unknown (a refused sign-in). */
  actor_role: z.enum(['reader', 'deployer', 'admin']).nullable(),
  /** The team of the app acted on; null outside any team (tokens, sign-ins, queues): admins only. */
  team: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  request_id: z.string().nullable(),
  outcome: z.string(),
  /** Names, ids and counts only: never a value, token or secret. */
  detail: z.record(z.string(), z.unknown()),
});
export type TAuditRecord = z.infer<typeof ZAuditRecord>;

export const ZAuditPage = z.object({ items: z.array(ZAuditRecord), next_cursor: z.string().nullable() });
export type TAuditPage = z.infer<typeof ZAuditPage>;
