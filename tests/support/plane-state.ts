import { eq } from 'drizzle-orm';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { applications, artifactEvents, artifacts, configVersions, deployments, teams } from '../../db/schema';
import { artifactStorageKey, isDigest } from '../../server/contract/digest';
import { APP_NAME_RE } from '../../server/contract/app-name';
import type { TestPlane } from './harness';

/**
 * What a refused request must leave untouched, read straight from the database and the data
 * dir: "changes nothing" is asserted by comparing two of these.
 */
export interface PlaneState {
  apps: string[];
  artifacts: string[];
  artifactEvents: number;
  deployments: number;
  /** Config versions of every app (each app's pointer is in `apps`). */
  configVersions: number;
  teams: string[];
  /** Files under `<dataDir>/objects` (objects, sidecars, multipart parts), relative, sorted. */
  objectFiles: string[];
}

/** Every file below `dir`, relative to it and sorted; [] when it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

export async function planeState(plane: TestPlane): Promise<PlaneState> {
  const db = plane.services.db;
  const [apps, rows, events, deps, versions, teamRows, objectFiles] = await Promise.all([
    db.select().from(applications),
    db.select().from(artifacts),
    db.select({ id: artifactEvents.id }).from(artifactEvents),
    db.select({ id: deployments.id }).from(deployments),
    db.select({ id: configVersions.id }).from(configVersions),
    db.select({ name: teams.name }).from(teams),
    filesUnder(path.join(plane.dataDir, 'objects')),
  ]);
  return {
    apps: apps.map((a) => `${a.name}:${a.team}:${a.configVersionId}:${a.maxArtifacts}:${a.maxTotalBytes}:${a.retainLatest}`).sort(),
    artifacts: rows
      .map((r) => `${r.appId}:${r.digest}:${r.status}:${r.sizeBytes}:${r.idempotencyKey}:${r.multipartUploadId}:${r.signature}`)
      .sort(),
    artifactEvents: events.length,
    deployments: deps.length,
    configVersions: versions.length,
    teams: teamRows.map((t) => t.name).sort(),
    objectFiles,
  };
}

/**
 * Storage keys an input names (its `app_name` and `digest`, when both are well formed), and
 * what storage says about each: a refused request must not have written any of them.
 */
export async function headsOf(plane: TestPlane, input: unknown): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  if (!input || typeof input !== 'object') return out;
  const { app_name: app, digest } = input as { app_name?: unknown; digest?: unknown };
  if (typeof app === 'string' && APP_NAME_RE.test(app) && isDigest(digest)) {
    const key = artifactStorageKey(app, digest);
    out[key] = await plane.services.storage.head(key);
  }
  return out;
}

/** Artifact rows of one app by status: `{ pending: 3, verifying: 7 }`. */
export async function statusCounts(plane: TestPlane, appId: string): Promise<Record<string, number>> {
  const rows = await plane.services.db.select({ status: artifacts.status }).from(artifacts).where(eq(artifacts.appId, appId));
  const out: Record<string, number> = {};
  for (const r of rows) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}
