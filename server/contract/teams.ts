import { z } from 'zod';
import { APP_NAME_RE } from './app-name';

/** Team names follow the app-name rule (DNS labels): they appear in URLs, filters and tokens. */
export const ZTeamName = z.string().regex(APP_NAME_RE, 'team name must be a DNS label: lowercase letters, digits and "-", 1-63 chars');

export const ZTeamRef = z.object({ name: ZTeamName });

/** A token's teams: at least one, no repeats. Absent or null: every team. */
export const ZTokenTeams = z
  .array(ZTeamName)
  .min(1)
  .max(100)
  .refine((ts) => new Set(ts).size === ts.length, 'teams must not repeat');

export const ZTeam = z.object({ name: z.string(), created_at: z.string(), apps: z.number().int() });
export type TTeam = z.infer<typeof ZTeam>;
