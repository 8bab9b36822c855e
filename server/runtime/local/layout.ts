import path from 'node:path';
import { AppError } from '../../errors';

/**
 * Where the local runtime keeps things under the data directory. App names and deployment
 * ids become path segments, so they are checked here before any path is built from them.
 */
export interface Layout {
  appsDir: string;
  /** Helper scripts the runtime writes for itself (the log writer). */
  binDir: string;
  logsDir: string;
  stateDir: string;
  tmpDir: string;
}

export function layoutOf(dataDir: string): Layout {
  const root = path.resolve(dataDir, 'runtime');
  return {
    appsDir: path.join(root, 'apps'),
    binDir: path.join(root, 'bin'),
    logsDir: path.join(root, 'logs'),
    stateDir: path.join(root, 'state'),
    tmpDir: path.join(root, 'tmp'),
  };
}

// Ids are uuids and app names DNS labels in practice; this only has to rule out traversal.
const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function assertSafeSegment(what: string, value: string): void {
  if (!SAFE_SEGMENT.test(value)) throw new AppError('bad_request', `invalid ${what}: ${JSON.stringify(value)}`);
}

export const appDirOf = (l: Layout, appName: string, deploymentId: string) =>
  path.join(l.appsDir, appName, deploymentId);

/** Per app, so that keeping only its last N deployments' logs is one directory listing. */
export const appLogsDirOf = (l: Layout, appName: string) => path.join(l.logsDir, appName);

export const logFileOf = (l: Layout, appName: string, deploymentId: string) => path.join(appLogsDirOf(l, appName), `${deploymentId}.log`);

/** Where logs were kept before they were split per app (raw output, no timestamps). */
export const legacyLogFileOf = (l: Layout, deploymentId: string) => path.join(l.logsDir, `${deploymentId}.log`);

export const stateFileOf = (l: Layout, appName: string) => path.join(l.stateDir, `${appName}.json`);

export const urlOf = (port: number) => `http://127.0.0.1:${port}`;
