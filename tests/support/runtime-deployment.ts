import { randomUUID } from 'node:crypto';
import type { ReleaseSettings, RuntimeDeployment } from '../../server/runtime/port';

/** The settings a release gets when its app sets none (the environment's defaults in tests). */
export const DEFAULT_RELEASE_SETTINGS: ReleaseSettings = { startCommand: null, healthPath: '/', healthTimeoutMs: 15_000 };

type Release = Pick<RuntimeDeployment, 'appName' | 'deploymentId' | 'digest' | 'storageKey'> &
  Partial<Omit<RuntimeDeployment, 'settings'>> & { settings?: Partial<ReleaseSettings> };

/**
 * A RuntimeDeployment as the rollout service hands it to a driver: by default a config version
 * of its own with no variables, and the default settings.
 */
export function runtimeDeployment(d: Release): RuntimeDeployment {
  return { configVersionId: randomUUID(), env: {}, ...d, settings: { ...DEFAULT_RELEASE_SETTINGS, ...d.settings } };
}
