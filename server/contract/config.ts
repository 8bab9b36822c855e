import { z } from 'zod';
import { ZAppName } from './apps';

/**
 * App config (environment variables, plain or secret) and per-app settings: the rules and the
 * procedure shapes, shared by the server, the REST routes and the CLI. Names and values are
 * checked by {@link configProblems} rather than by zod, so every refusal names the variable
 * and never echoes a value.
 */

export {
  CONFIG_NAME_RE,
  configNameProblem,
  configValueProblem,
  MAX_CONFIG_NAME_LENGTH,
  MAX_CONFIG_VALUE_BYTES,
  MAX_CONFIG_VARS,
  MAX_CONFIG_TOTAL_BYTES,
  RESERVED_CONFIG_NAMES,
  RESERVED_CONFIG_PREFIX,
  SECRET_MASK,
} from './config-rules';

const ZVars = z.record(z.string(), z.string());

export const ZHealthPath = z.string().max(1024).regex(/^\/[\x21-\x7e]*$/, 'health_path must start with "/" and hold printable ASCII only');
export const ZStartCommand = z.string().min(1).max(4096).refine((s) => !s.includes('\0') && s.trim().length > 0, 'start_command must be a non-blank command without NUL bytes');
export const ZHealthTimeoutSecs = z.number().int().min(1).max(3600);

/** Per-app settings; null restores the environment's default. */
export const ZAppSettingsInput = z.object({
  start_command: ZStartCommand.nullable().optional(),
  health_path: ZHealthPath.nullable().optional(),
  health_timeout_secs: ZHealthTimeoutSecs.nullable().optional(),
});
export type TAppSettingsInput = z.infer<typeof ZAppSettingsInput>;

export const ZConfigChangeInput = z.object({
  app_name: ZAppName,
  /** Plain variables to set (name -> value). */
  set: ZVars.optional(),
  /** Secret variables to set: stored encrypted, never shown again. */
  secrets: ZVars.optional(),
  unset: z.array(z.string()).max(1000).optional(),
  /** false: stage the change; the next deploy (or config.deploy) runs with it. */
  deploy: z.boolean().default(true),
  /** Refuse (conflict) unless the app's config is still at this version: for staged edits. */
  expected_version: z.number().int().min(1).optional(),
});
export type TConfigChangeInput = z.input<typeof ZConfigChangeInput>;

export const ZConfigDeployInput = z.object({ app_name: ZAppName });

const ZTime = z.string();

export const ZConfigEntry = z.object({
  name: z.string(),
  secret: z.boolean(),
  /** The value of a plain variable; always null for a secret. */
  value: z.string().nullable(),
  /** What to show instead of the value: the value itself for plain variables, a mask for secrets. */
  display: z.string(),
  set_at: ZTime,
  set_by: z.string(),
});
export type TConfigEntry = z.infer<typeof ZConfigEntry>;

export const ZAppSettings = z.object({
  start_command: z.string().nullable(),
  health_path: z.string().nullable(),
  health_timeout_secs: z.number().int().nullable(),
});
export type TAppSettings = z.infer<typeof ZAppSettings>;

export const ZConfigView = z.object({
  app_name: z.string(),
  /** The version the next deploy runs with. */
  version: z.number().int(),
  /** The version of the release running now; null when nothing runs. */
  running_version: z.number().int().nullable(),
  /** True when `version` is not what runs: changes wait for a deploy. */
  staged: z.boolean(),
  entries: z.array(ZConfigEntry),
  settings: ZAppSettings,
  /** Names of what the staged version changes against the running one (names only). */
  staged_changes: z.object({ set: z.array(z.string()), unset: z.array(z.string()), settings: z.array(z.string()) }),
});
export type TConfigView = z.infer<typeof ZConfigView>;
