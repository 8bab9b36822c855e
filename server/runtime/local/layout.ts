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

/** A local instance id: '0'..'999', no leading zero, so each instance has one spelling. */
export const INSTANCE_ID_RE = /^(0|[1-9][0-9]{0,2})$/;

export function assertInstanceId(value: string): void {
  if (!INSTANCE_ID_RE.test(value)) throw new AppError('bad_request', `invalid instance ${JSON.stringify(value)}: local instances are 0 to 999`);
}

/**
 * One file per instance of a deployment, appended to across that instance's restarts:
 * `<deploymentId>.log` for instance '0' (where a deployment's only log has always been) and
 * `<deploymentId>.<instance>.log` for the others. The writer rotates each to `<file>.1`.
 */
export function logFileOf(l: Layout, appName: string, deploymentId: string, instance = '0'): string {
  assertInstanceId(instance);
  const name = instance === '0' ? `${deploymentId}.log` : `${deploymentId}.${instance}.log`;
  return path.join(appLogsDirOf(l, appName), name);
}

const LOG_NAME_RE = /^(.+?)(?:\.([1-9][0-9]{0,2}))?\.log(\.1)?$/;

/**
 * Which deployment and instance a file of an app's log directory belongs to, and whether it is
 * the rotated part; null for anything else. Ids are uuids, so `<id>.<n>.log` is unambiguous.
 */
export function parseLogFileName(name: string): { deploymentId: string; instance: string; rotated: boolean } | null {
  const m = LOG_NAME_RE.exec(name);
  if (!m) return null;
  return { deploymentId: m[1]!, instance: m[2] ?? '0', rotated: m[3] !== undefined };
}

/** Where logs were kept before they were split per app (raw output, no timestamps). */
export const legacyLogFileOf = (l: Layout, deploymentId: string) => path.join(l.logsDir, `${deploymentId}.log`);

export const stateFileOf = (l: Layout, appName: string) => path.join(l.stateDir, `${appName}.json`);

export const urlOf = (port: number) => `http://127.0.0.1:${port}`;
