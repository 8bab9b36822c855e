import { z } from 'zod';
import { ZAppName } from './apps';
import { ZTeamName } from './teams';
import { ZArtifact, ZAppSummary, ZDeployment, ZDeploymentEvent } from './outputs';

/**
 * The portal's read views: what one page needs in one call, always bounded (limit + keyset
 * cursor), so a page stays fast however much history an app has. Pure: zod only.
 */

const ZLimit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);
/** Opaque keyset cursor from the previous page's `next_cursor`. */
const ZCursor = z.string().max(200).optional();

export const ZConsoleAppsInput = z.object({
  /** Matches app names and owners, case-insensitively. */
  search: z.string().trim().max(100).optional(),
  /** Apps of this team only (within the teams the caller sees). */
  team: ZTeamName.optional(),
  limit: ZLimit(200, 100),
});
export const ZConsoleAppsPage = z.object({ items: z.array(ZAppSummary), more: z.boolean() });
export type TConsoleAppsPage = z.infer<typeof ZConsoleAppsPage>;

export const ZConsoleAppOverview = z.object({
  app: ZAppSummary,
  deployments_count: z.number().int(),
  artifacts_count: z.number().int(),
});
export type TConsoleAppOverview = z.infer<typeof ZConsoleAppOverview>;

export const ZTimelineInput = z.object({ app_name: ZAppName, limit: ZLimit(100, 20), cursor: ZCursor });
export const ZTimelineEntry = ZDeployment.extend({ events: z.array(ZDeploymentEvent) });
export type TTimelineEntry = z.infer<typeof ZTimelineEntry>;
export const ZTimelinePage = z.object({ items: z.array(ZTimelineEntry), next_cursor: z.string().nullable() });
export type TTimelinePage = z.infer<typeof ZTimelinePage>;

export const ZConsoleArtifactsInput = z.object({
  app_name: ZAppName,
  status: z.enum(['pending', 'verifying', 'stored', 'failed', 'deleted']).optional(),
  limit: ZLimit(200, 50),
  cursor: ZCursor,
});
export const ZConsoleArtifact = ZArtifact.extend({
  /** Whether the upload carried a signature at all (verified says whether a key vouched for it). */
  signed: z.boolean(),
  /** The key whose signature verified these bytes, if any. */
  signing_key: z.object({ key_id: z.uuid(), fingerprint: z.string(), active: z.boolean() }).nullable(),
});
export type TConsoleArtifact = z.infer<typeof ZConsoleArtifact>;
export const ZConsoleArtifactsPage = z.object({ items: z.array(ZConsoleArtifact), next_cursor: z.string().nullable() });
export type TConsoleArtifactsPage = z.infer<typeof ZConsoleArtifactsPage>;
