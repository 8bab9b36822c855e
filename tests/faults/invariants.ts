import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Db } from '../../db/client';
import * as schema from '../../db/schema';
import { QUEUE_DEFS, type QueueKey } from '../../server/queues/definitions';
import { usageOf } from '../../server/services/artifacts/quota';
import { isAlive } from '../support/app-processes';
import { filesUnder } from '../support/plane-state';
import type { FaultPlane } from './fault-plane';

export interface InvariantOptions {
  /** Apps that must end with exactly one running deployment; every other app must have none. */
  runningApps?: string[];
  /** How long work may take to settle before what is still moving counts as stuck. Default 60 s. */
  settleMs?: number;
}

const FINAL_ARTIFACT = new Set(['stored', 'failed', 'deleted']);
const FINAL_DEPLOYMENT = new Set(['running', 'failed', 'superseded', 'rolled_back']);
/** Queues whose jobs come from requests: nothing may stay queued, delayed or active. */
const WORK_QUEUES: QueueKey[] = ['artifactVerify', 'rollout', 'retention'];
/** Queues run by a job scheduler: one delayed job is the next run, by design. */
const SCHEDULED_QUEUES: QueueKey[] = ['maintenance', 'secretsRekey'];

type Sql = postgres.Sql;
type ArtifactRow = {
  id: string;
  app: string;
  app_id: string;
  digest: string;
  status: string;
  size_bytes: string;
  storage_key: string;
};
type DeploymentRow = { id: string; app: string; status: string; artifact_status: string };

/**
 * What must hold once a fault is over, read from the scratch database, the fs store and the
 * queues directly (not through the API under test). Waits up to `settleMs` for in-flight work
 * to finish, then returns every broken invariant, in words; [] when all hold.
 */
export async function checkInvariants(fp: FaultPlane, opts: InvariantOptions = {}): Promise<string[]> {
  const sql = postgres(fp.databaseUrl, { max: 2, onnotice: () => {} });
  const queues = WORK_QUEUES.concat(SCHEDULED_QUEUES).map(
    (key) =>
      [
        key,
        new Queue(QUEUE_DEFS[key].name, { connection: { url: fp.env.REDIS_URL! }, prefix: fp.env.AETHER_QUEUE_PREFIX }),
      ] as const,
  );
  try {
    const deadline = Date.now() + (opts.settleMs ?? 60_000);
    let moving = await stillMoving(sql, queues);
    while (moving.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      moving = await stillMoving(sql, queues);
    }
    return [
      ...moving.map((m) => `not settled after ${opts.settleMs ?? 60_000} ms: ${m}`),
      ...(await failedJobs(queues)),
      ...(await deploymentInvariants(sql, fp.dataDir, opts.runningApps)),
      ...(await storeInvariants(sql, fp)),
    ];
  } finally {
    await Promise.all(queues.map(([, q]) => q.close()));
    await sql.end({ timeout: 5 });
  }
}

async function stillMoving(sql: Sql, queues: ReadonlyArray<readonly [QueueKey, Queue]>): Promise<string[]> {
  const out: string[] = [];
  for (const a of await sql<ArtifactRow[]>`select a.id, a.status from artifacts a`) {
    if (!FINAL_ARTIFACT.has(a.status)) out.push(`artifact ${a.id} is ${a.status}`);
  }
  for (const d of await sql<DeploymentRow[]>`select id, status from deployments`) {
    if (!FINAL_DEPLOYMENT.has(d.status)) out.push(`deployment ${d.id} is ${d.status}`);
  }
  for (const [key, q] of queues) {
    const scheduled = SCHEDULED_QUEUES.includes(key);
    const states = scheduled ? (['active', 'wait'] as const) : (['active', 'wait', 'delayed', 'prioritized'] as const);
    const counts = await q.getJobCounts(...states);
    for (const [state, n] of Object.entries(counts)) if (n > 0) out.push(`${n} ${state} job(s) in ${q.name}`);
  }
  return out;
}

/**
 * A failed job is work the system gave up on without a final state of its own saying why. Not
 * a scheduled sweep's: one that met an outage is replaced by the next run.
 */
async function failedJobs(queues: ReadonlyArray<readonly [QueueKey, Queue]>): Promise<string[]> {
  const out: string[] = [];
  for (const [key, q] of queues) {
    if (SCHEDULED_QUEUES.includes(key)) continue;
    for (const job of await q.getFailed()) out.push(`job ${job.id} in ${q.name} failed: ${job.failedReason}`);
  }
  return out;
}

async function deploymentInvariants(sql: Sql, dataDir: string, runningApps?: string[]): Promise<string[]> {
  const out: string[] = [];
  const rows = await sql<DeploymentRow[]>`
    select d.id, ap.name as app, d.status, ar.status as artifact_status
    from deployments d join applications ap on ap.id = d.app_id join artifacts ar on ar.id = d.artifact_id`;
  const apps = await sql<Array<{ name: string }>>`select name from applications`;
  for (const { name } of apps) {
    const running = rows.filter((d) => d.app === name && d.status === 'running');
    const want = runningApps === undefined ? Math.min(running.length, 1) : runningApps.includes(name) ? 1 : 0;
    if (running.length !== want) out.push(`app ${name} has ${running.length} running deployment(s), expected ${want}`);
    for (const d of running) {
      if (d.artifact_status !== 'stored')
        out.push(`running deployment ${d.id} of ${name} runs a ${d.artifact_status} artifact`);
    }
    out.push(...(await runtimeAgrees(dataDir, name, running.length === 1 ? running[0]!.id : null)));
  }
  return out;
}

/** The local runtime's record of the app names the deployment the database calls running, and it is alive. */
async function runtimeAgrees(dataDir: string, app: string, runningId: string | null): Promise<string[]> {
  const raw = await readFile(path.join(dataDir, 'runtime', 'state', `${app}.json`), 'utf8').catch(() => null);
  const state = raw === null ? null : (JSON.parse(raw) as { deploymentId: string; instances: Array<{ pid: number }> });
  if (runningId === null)
    return state ? [`app ${app} has no running deployment, but the runtime runs ${state.deploymentId}`] : [];
  if (!state) return [`deployment ${runningId} of ${app} is running, but the runtime records nothing for the app`];
  if (state.deploymentId !== runningId)
    return [`app ${app}: database runs ${runningId}, runtime runs ${state.deploymentId}`];
  return state.instances
    .filter((i) => !isAlive(i.pid))
    .map((i) => `instance pid ${i.pid} of ${app} is recorded but not alive`);
}


/**
 * Rows against objects: every row that holds quota has its object (size and sha256 as stored),
 * no object or file is left without such a row, and the usage quota decisions read (the
 * product's own `usageOf`, and the API's limits answer) is what the store holds.
 */
async function storeInvariants(sql: Sql, fp: FaultPlane): Promise<string[]> {
  const out: string[] = [];
  const root = path.join(fp.dataDir, 'objects');
  const files = new Set(await filesUnder(root));
  const rows = await sql<ArtifactRow[]>`
    select a.id, ap.name as app, a.app_id, a.digest, a.status, a.size_bytes, a.storage_key
    from artifacts a join applications ap on ap.id = a.app_id`;
  const holding = new Map(
    rows.filter((r) => ['pending', 'verifying', 'stored'].includes(r.status)).map((r) => [r.storage_key, r]),
  );
  const onDisk = new Map<string, { count: number; bytes: number }>();

  for (const r of rows) {
    const has = files.has(r.storage_key);
    if (r.status === 'stored' && !has) out.push(`stored artifact ${r.id} (${r.app}) has no object at ${r.storage_key}`);
    if (!holding.has(r.storage_key) && has) out.push(`${r.status} artifact ${r.id} (${r.app}) still has its object`);
  }
  for (const file of files) {
    if (file.endsWith('.meta.json')) {
      if (!files.has(file.slice(0, -'.meta.json'.length))) out.push(`sidecar without object: ${file}`);
      continue;
    }
    const row = holding.get(file);
    if (!row) {
      out.push(`orphan file in the store: ${file}`);
      continue;
    }
    const size = (await stat(path.join(root, file))).size;
    const meta = JSON.parse(await readFile(path.join(root, `${file}.meta.json`), 'utf8').catch(() => '{}')) as {
      sizeBytes?: number;
      computedSha256?: string;
    };
    if (size !== Number(row.size_bytes)) out.push(`object ${file} is ${size} bytes, its row says ${row.size_bytes}`);
    if (meta.sizeBytes !== size || meta.computedSha256 !== row.digest)
      out.push(`object ${file}: sidecar does not describe it`);
    const used = onDisk.get(row.app) ?? { count: 0, bytes: 0 };
    onDisk.set(row.app, { count: used.count + 1, bytes: used.bytes + size });
  }

  const db = drizzle(sql, { schema }) as unknown as Db;
  for (const { id, name } of await sql<Array<{ id: string; name: string }>>`select id, name from applications`) {
    const disk = onDisk.get(name) ?? { count: 0, bytes: 0 };
    const usage = await usageOf(db, id);
    if (usage.count !== disk.count || usage.bytes !== disk.bytes) {
      out.push(
        `app ${name}: usage ${usage.count} artifacts / ${usage.bytes} bytes, store holds ${disk.count} / ${disk.bytes}`,
      );
    }
    const res = await fp.api('GET', `/apps/${name}/limits`, undefined, 'reader');
    const api = res.ok ? ((await res.json()) as { usage: { artifacts: number; bytes: number } }).usage : null;
    if (!api || api.artifacts !== disk.count || api.bytes !== disk.bytes) {
      out.push(
        `app ${name}: the API reports usage ${JSON.stringify(api ?? res.status)}, ` +
          `store holds ${disk.count} / ${disk.bytes}`,
      );
    }
  }
  return out;
}
