import path from 'node:path';
import postgres from 'postgres';
import { filesUnder } from '../support/plane-state';

/**
 * What a fault left behind, read from the database directly (not through the cuttable link),
 * the fs store's directory and the plane's own request counters. The full end-of-scenario
 * check is ./invariants.ts; `settledRows` is its database half, for a plane on the S3 store.
 */

export interface ArtifactRow {
  app: string;
  digest: string;
  status: string;
}

export interface DeploymentRow {
  id: string;
  app: string;
  status: string;
  failure_reason: string | null;
}

async function query<T extends object>(databaseUrl: string, sql: string): Promise<T[]> {
  const db = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return [...(await db.unsafe<T[]>(sql))];
  } finally {
    await db.end({ timeout: 5 });
  }
}

export const artifactRows = (databaseUrl: string) =>
  query<ArtifactRow>(
    databaseUrl,
    `select a.name as app, r.digest, r.status
       from artifacts r join applications a on a.id = r.app_id order by r.created_at`,
  );

export const deploymentRows = (databaseUrl: string) =>
  query<DeploymentRow>(
    databaseUrl,
    `select d.id, a.name as app, d.status, d.failure_reason
       from deployments d join applications a on a.id = d.app_id order by d.created_at`,
  );

export const deploymentPhases = async (databaseUrl: string, deploymentId: string) =>
  (
    await query<{ phase: string }>(
      databaseUrl,
      `select phase from deployment_events where deployment_id = '${deploymentId}' order by id`,
    )
  ).map((e) => e.phase);

/** Files of the fs store (`<data dir>/objects`): objects, sidecars, multipart staging, temp files. */
export const storeFiles = (dataDir: string) => filesUnder(path.join(dataDir, 'objects'));

/**
 * Waits up to `settleMs` for every artifact to be stored, failed or deleted and every app with
 * deployments to have exactly one running and none in flight; returns what still does not hold.
 */
export async function settledRows(databaseUrl: string, settleMs: number): Promise<string[]> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const problems: string[] = [];
    for (const a of await artifactRows(databaseUrl)) {
      if (!['stored', 'failed', 'deleted'].includes(a.status))
        problems.push(`artifact ${a.app}/${a.digest} is ${a.status}`);
    }
    const deployments = await deploymentRows(databaseUrl);
    for (const app of new Set(deployments.map((d) => d.app))) {
      const mine = deployments.filter((d) => d.app === app);
      const running = mine.filter((d) => d.status === 'running').length;
      if (running !== 1) problems.push(`app ${app} has ${running} running deployments`);
      for (const d of mine.filter((x) => x.status === 'pending' || x.status === 'rolling_out')) {
        problems.push(`deployment ${d.id} of ${app} is still ${d.status}`);
      }
    }
    if (problems.length === 0 || Date.now() > deadline) return problems;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Requests the plane answered with a 5xx other than 503 since it started, by route and status
 * (its `http_requests_total`): a fault must be a 503 with Retry-After, never a crash.
 */
export async function serverErrors(planeUrl: string): Promise<string[]> {
  const text = await (await fetch(`${planeUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('http_requests_total{') && /status="5\d\d"/.test(l) && !l.includes('status="503"'))
    .filter((l) => Number(l.split(' ').at(-1)) > 0);
}
