import type { StoredAppSettings } from '../../../db/schema';
import type { Env } from '../../env';
import type { ReleaseSettings } from '../../runtime/port';
import type { SecretBox } from '../../secrets/secret-box';
import { secretContext } from './config-rules';
import type { ConfigVersionRow } from './config-versions';

/**
 * A version's variables as the app's environment, secrets opened. The only place plaintext
 * secrets exist in the control plane: handed to the runtime driver, never stored or logged.
 */
export function releaseEnv(secrets: SecretBox, version: Pick<ConfigVersionRow, 'appId' | 'entries'>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, entry] of Object.entries(version.entries)) {
    env[name] = entry.secret ? secrets.open(entry.sealed ?? '', secretContext(version.appId, name)) : (entry.value ?? '');
  }
  return env;
}

/** A version's settings with the environment's defaults filled in. */
export function releaseSettings(env: SupervisionEnv, settings: StoredAppSettings): ReleaseSettings {
  return {
    startCommand: settings.start_command,
    healthPath: settings.health_path ?? env.AETHER_RUNTIME_HEALTH_PATH,
    healthTimeoutMs: (settings.health_timeout_secs ?? env.AETHER_HEALTH_TIMEOUT_SECS) * 1000,
    healthIntervalMs: env.AETHER_HEALTH_INTERVAL_SECS * 1000,
    crashLoopRestarts: env.AETHER_CRASH_LOOP_RESTARTS,
    crashLoopWindowMs: env.AETHER_CRASH_LOOP_WINDOW_SECS * 1000,
  };
}

type SupervisionEnv = Pick<
  Env,
  'AETHER_RUNTIME_HEALTH_PATH' | 'AETHER_HEALTH_TIMEOUT_SECS' | 'AETHER_HEALTH_INTERVAL_SECS' | 'AETHER_CRASH_LOOP_RESTARTS' | 'AETHER_CRASH_LOOP_WINDOW_SECS'
>;

/** Shown in place of a secret's value where the app's own output is quoted. */
export const SECRET_REDACTED = '[secret]';

/**
 * Masks the values of `version`'s secrets (as opened in `env`) in text the app printed, which a
 * failed rollout quotes in its event: an app that crashes printing its DATABASE_URL must not
 * put the password in the timeline. JSON-escaped forms are masked too; longest values first,
 * so one secret inside another never leaves the longer one's remainder.
 */
export function secretMasker(version: Pick<ConfigVersionRow, 'entries'>, env: Readonly<Record<string, string>>): (text: string) => string {
  const values = new Set<string>();
  for (const [name, entry] of Object.entries(version.entries)) {
    const value = entry.secret ? env[name] : undefined;
    if (!value) continue;
    values.add(value);
    values.add(JSON.stringify(value).slice(1, -1));
  }
  const ordered = [...values].sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((masked, value) => masked.replaceAll(value, SECRET_REDACTED), text);
}
