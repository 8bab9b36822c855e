/**
 * The control plane's HTTP edge against the floor, in one run, every load from `wrk -t2 -c32`
 * (Debian's package: a separate, efficient process; never an in-process fetch loop):
 *   1. the floor: a bare node:http server answering a constant JSON body;
 *   2. the DB floor: bare node:http plus postgres.js running the statements presign runs
 *      (the app by name; in a transaction the artifact, the app twice (quota lock), the quota
 *      usage, the insert-or-nothing, the row locked, the row reset);
 *   3. `/healthz`, 4. `/whoami`, 5. `POST /artifacts/presign` on PostgreSQL and on PGlite,
 *   6. `GET /apps` and `GET /artifacts`,
 * against the production server (`npm start`: server/http/main.ts) on a scratch database.
 * Targets (printed, never failing the process): /healthz >= 0.5x the floor's req/s; presign on
 * PostgreSQL >= 0.5x the DB floor's req/s with p99 <= 2x the DB floor's p99.
 *
 *   npm run build && npx tsx tests/bench/http.bench.ts     (BENCH_SECS to change the duration, 10 by default)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertBuilt, freePort, ROOT, startPlaneProcess, type PlaneProcess } from '../support/control-plane-process';
import { createScratchDatabase } from '../support/pg';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis';
import { runWrk, WRK, type WrkSummary } from '../support/wrk';

const SECS = Number(process.env.BENCH_SECS ?? 10);
const TOKEN = `bench-deployer-${randomUUID()}`;
const APP = 'bench-app';
const DIGEST = createHash('sha256').update('http bench artifact').digest('hex');
const PRESIGN_BODY = JSON.stringify({ app_name: APP, digest: DIGEST, size_bytes: 1024 });

const FLOOR = `
const http = require('node:http');
const body = Buffer.from(JSON.stringify({ status: 'ok' }));
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
`;

// The statements of a presign of a pending artifact of an app with a quota
// (server/services/artifacts/upload.service.ts), as postgres.js prepares them; the answer is a
// JSON body of the same shape and size class.
const DB_FLOOR = `
const http = require('node:http');
const postgres = require(process.env.POSTGRES_JS);
const sql = postgres(process.env.DATABASE_URL, { max: 10, onnotice: () => {} });
const digest = process.env.DIGEST;
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      const input = JSON.parse(Buffer.concat(chunks).toString());
      const [app] = await sql\`select * from applications where name = \${input.app_name} limit 1\`;
      const row = await sql.begin(async (tx) => {
        await tx\`select status from artifacts where app_id = \${app.id} and digest = \${digest} limit 1\`;
        await tx\`select id, name, max_artifacts, max_total_bytes, retain_latest, max_unpacked_bytes from applications where id = \${app.id} for no key update\`;
        await tx\`select count(*)::int as n, coalesce(sum(size_bytes), 0)::bigint as bytes from artifacts where app_id = \${app.id} and status in ('pending', 'verifying', 'stored') and digest <> \${digest}\`;
        const [current] = await tx\`select id, status, multipart_upload_id from artifacts where app_id = \${app.id} and digest = \${digest} for update\`;
        const [reset] = await tx\`update artifacts set size_bytes = \${input.size_bytes}, status = 'pending', failure_reason = null, multipart_upload_id = null, part_size_bytes = null, verified = false, verified_key_id = null, completed_at = null, updated_at = now() where id = \${current.id} returning *\`;
        return reset;
      });
      await sql\`insert into audit_log (actor, actor_role, team, action, target, request_id, outcome, detail) values ('bench', 'deployer', 'default', 'artifacts.presign', \${app.name}, \${req.headers['x-request-id'] ?? null}, 'ok', '{}')\`;
      const body = JSON.stringify({ method: 'PUT', upload_url: 'http://127.0.0.1/storage/x?sig=' + 'a'.repeat(64), headers: {}, storage_key: row.storage_key, expires_at: new Date().toISOString(), artifact: row });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
`;

async function startNode(source: string, env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', source], { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

const scratchDir = mkdtempSync(path.join(os.tmpdir(), 'aether-http-bench-'));
const presignScript = path.join(scratchDir, 'presign.lua');
writeFileSync(presignScript, `wrk.method = "POST"\nwrk.body = '${PRESIGN_BODY}'\nwrk.headers["Content-Type"] = "application/json"\n`);
const auth = { Authorization: `Bearer ${TOKEN}` };

async function startPlane(kind: 'postgres' | 'pglite', databaseUrl?: string): Promise<{ plane: PlaneProcess; prefix: string }> {
  const prefix = `bench-http-${randomUUID()}`;
  const env: Record<string, string> = {
    AETHER_DATA_DIR: mkdtempSync(path.join(scratchDir, `${kind}-`)),
    REDIS_URL: TEST_REDIS_URL,
    AETHER_QUEUE_PREFIX: prefix,
    AETHER_API_TOKENS: `${TOKEN}:deployer:bench`,
    AETHER_WORKERS: 'off',
    AETHER_LOG_LEVEL: 'warn',
    // A quota, as a real platform sets: presign then locks the app and counts, as the DB floor does.
    AETHER_MAX_ARTIFACTS_PER_APP: '1000',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  const plane = await startPlaneProcess(env, await freePort());
  const created = await fetch(`${plane.url}/apps`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: APP }) });
  if (created.status !== 201) throw new Error(`creating the app failed: ${created.status} ${await created.text()}`);
  // One presign before the load: what wrk repeats is the re-presign of a pending artifact.
  const first = await fetch(`${plane.url}/artifacts/presign`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: PRESIGN_BODY });
  if (first.status !== 200) throw new Error(`presign failed: ${first.status} ${await first.text()}`);
  return { plane, prefix };
}

function row(name: string, s: WrkSummary, base?: WrkSummary): string {
  const ratio = base ? `${(s.requestsPerSec / base.requestsPerSec).toFixed(2)}x` : '';
  const errors = s.non2xx + s.socketErrors > 0 ? `  (${s.non2xx} non-2xx, ${s.socketErrors} socket errors)` : '';
  return `${name.padEnd(34)} ${s.requestsPerSec.toFixed(0).padStart(8)} req/s  p50 ${fmt(s.p50Ms)}  p99 ${fmt(s.p99Ms)}  ${ratio.padStart(6)}${errors}`;
}
const fmt = (ms: number | null) => (ms === null ? '   -   ' : `${ms.toFixed(2).padStart(7)} ms`);

if (!WRK) throw new Error('wrk is not installed (apt-get install wrk; npm run bench installs it)');
assertBuilt();
const db = await createScratchDatabase();
const children: ChildProcess[] = [];
const planes: Array<{ plane: PlaneProcess; prefix: string }> = [];
try {
  const pg = await startPlane('postgres', db.url);
  planes.push(pg);
  const lite = await startPlane('pglite');
  planes.push(lite);
  const floor = await startNode(FLOOR, {});
  const dbFloor = await startNode(DB_FLOOR, { DATABASE_URL: db.url, DIGEST, POSTGRES_JS: path.join(ROOT, 'node_modules/postgres/cjs/src/index.js') });
  children.push(floor.child, dbFloor.child);

  const load = (url: string, opts: Parameters<typeof runWrk>[3] = {}) => runWrk(url, '', SECS, opts);
  console.log(`wrk -t2 -c32 -d${SECS}s, each row its own run; ratios against the floor in the same run\n`);
  const floorRun = await load(`${floor.url}/`);
  console.log(row('1. node:http floor', floorRun));
  const dbFloorRun = await load(`${dbFloor.url}/`, { script: presignScript });
  console.log(row('2. DB floor (presign SQL)', dbFloorRun));
  const healthz = await load(`${pg.plane.url}/healthz`);
  console.log(row('3. /healthz', healthz, floorRun));
  const whoami = await load(`${pg.plane.url}/whoami`, { headers: auth });
  console.log(row('4. /whoami', whoami, floorRun));
  const presignPg = await load(`${pg.plane.url}/artifacts/presign`, { headers: auth, script: presignScript });
  console.log(row('5. presign, PostgreSQL', presignPg, dbFloorRun));
  const presignLite = await load(`${lite.plane.url}/artifacts/presign`, { headers: auth, script: presignScript });
  console.log(row('5. presign, PGlite', presignLite, dbFloorRun));
  const apps = await load(`${pg.plane.url}/apps`, { headers: auth });
  console.log(row('6. GET /apps, PostgreSQL', apps, floorRun));
  const artifactsList = await load(`${pg.plane.url}/artifacts?app_name=${APP}`, { headers: auth });
  console.log(row('6. GET /artifacts, PostgreSQL', artifactsList, floorRun));

  const healthRatio = healthz.requestsPerSec / floorRun.requestsPerSec;
  const presignRatio = presignPg.requestsPerSec / dbFloorRun.requestsPerSec;
  const p99Ratio = (presignPg.p99Ms ?? Infinity) / (dbFloorRun.p99Ms ?? Infinity);
  console.log(`\n/healthz: ${healthRatio.toFixed(2)}x the floor (target >= 0.5x) ${healthRatio >= 0.5 ? 'MET' : 'NOT MET'}`);
  console.log(`presign on PostgreSQL: ${presignRatio.toFixed(2)}x the DB floor (target >= 0.5x) ${presignRatio >= 0.5 ? 'MET' : 'NOT MET'}`);
  console.log(`presign p99: ${p99Ratio.toFixed(2)}x the DB floor's (target <= 2x) ${p99Ratio <= 2 ? 'MET' : 'NOT MET'}`);
} finally {
  for (const c of children) c.kill('SIGKILL');
  for (const p of planes) {
    await p.plane.stop();
    await deletePrefix(p.prefix);
  }
  await db.drop();
  rmSync(scratchDir, { recursive: true, force: true });
}
