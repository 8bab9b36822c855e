import { eq, inArray } from 'drizzle-orm';
import type { Queryable } from '../../../db/client';
import { applications, artifacts, deployments } from '../../../db/schema';
import type { JobSummary } from './admin.schemas';

type Subject = JobSummary['subject'];
export interface SubjectIds {
  kind: Subject['kind'];
  id: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a payload points at. Payloads carry ids only (server/queues/definitions.ts). */
export function subjectIdsOf(data: unknown): SubjectIds {
  const d = (data ?? {}) as Record<string, unknown>;
  const pick = (key: string) => (typeof d[key] === 'string' ? (d[key] as string) : null);
  const artifactId = pick('artifactId');
  if (artifactId) return { kind: 'artifact', id: artifactId };
  const deploymentId = pick('deploymentId');
  if (deploymentId) return { kind: 'deployment', id: deploymentId };
  const appId = pick('appId');
  if (appId) return { kind: 'app', id: appId };
  return { kind: 'none', id: null };
}

/** Names the app of each subject, with one query per kind (ids that are not uuids name nothing). */
export async function resolveSubjects(db: Queryable, ids: SubjectIds[]): Promise<Subject[]> {
  const of = (kind: Subject['kind']) => [...new Set(ids.filter((s) => s.kind === kind && s.id && UUID.test(s.id)).map((s) => s.id!))];
  const [artifactIds, deploymentIds, appIds] = [of('artifact'), of('deployment'), of('app')];
  const [byArtifact, byDeployment, byApp] = await Promise.all([
    artifactIds.length
      ? db.select({ id: artifacts.id, app: applications.name }).from(artifacts).innerJoin(applications, eq(applications.id, artifacts.appId)).where(inArray(artifacts.id, artifactIds))
      : [],
    deploymentIds.length
      ? db.select({ id: deployments.id, app: applications.name }).from(deployments).innerJoin(applications, eq(applications.id, deployments.appId)).where(inArray(deployments.id, deploymentIds))
      : [],
    appIds.length ? db.select({ id: applications.id, app: applications.name }).from(applications).where(inArray(applications.id, appIds)) : [],
  ]);
  const names = new Map<string, string>([...byArtifact, ...byDeployment, ...byApp].map((r) => [r.id, r.app]));
  return ids.map((s) => ({ kind: s.kind, id: s.id, app_name: s.id ? (names.get(s.id) ?? null) : null }));
}
