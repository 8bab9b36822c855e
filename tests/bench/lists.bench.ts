/**
 * The list endpoints at production size: 1,000,000 artifact rows and 100,000 deployments over
 * 200 apps (a fifth of each in one big app), bulk-seeded into a scratch PostgreSQL database.
 * Against the production server (`npm start`: server/http/main.ts), `wrk -t2 -c32` from its own
 * process drives each list clients use: REST `GET /artifacts` (of the big app, of every app, and
 * of a small app, a keyset page deep in the big app's history), `GET /deployments` (the seed's
 * list, with and without `app_name`), `GET /apps/{app}/deployments`, and the portal's tRPC
 * `console.artifacts` and `console.timeline`. Target: p95 under 20 ms each. The floor, in the same
 * run: bare node:http plus postgres.js sending the two statements of the big app's artifacts list
 * (prepared) and answering the rows as JSON; each list's req/s is printed as a ratio of it.
 *
 * Then `EXPLAIN (ANALYZE, BUFFERS)` of the exact SQL each list runs, captured from the real
 * services through a drizzle logger, and whether it reads artifacts and deployments by index
 * in the list's order (no Seq Scan, no sort of every matching row). Targets are printed (MET / NOT MET), never failing the process.
 *
 *   npm run build && npx tsx tests/bench/lists.bench.ts     (BENCH_SECS to change the duration, 10 by default)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from '@/db/schema';
import type { Db } from '@/db/client';
import { ZConsoleArtifactsInput, ZTimelineInput } from '@/server/contract/console';
import { ZListAllDeploymentsInput, ZListArtifactsInput, ZListDeploymentsInput } from '@/server/contract/schemas';
import { migrateDatabase } from '@/server/migrate';
import { listArtifacts } from '@/server/services/artifacts/query.service';
import { listArtifactsWithKeys } from '@/server/services/console/artifacts-view.service';
import { getDeploymentTimeline } from '@/server/services/console/timeline.service';
import { listDeployments } from '@/server/services/deployments/deployments.service';
import { listAllDeployments } from '@/server/services/deployments/seed-deployments.service';
import { keysetPage } from '@/server/services/keyset-cursor';
import { assertBuilt, freePort, ROOT, startPlaneProcess } from '../support/control-plane-process';
import { BIG_APP, seedListTables } from '../support/list-seed';
import { createScratchDatabase } from '../support/pg';
import { deletePrefix, TEST_REDIS_URL } from '../support/redis';
import { P95_SCRIPT, runWrk, WRK, type WrkSummary } from '../support/wrk';

const SECS = Number(process.env.BENCH_SECS ?? 10);
const TARGET_P95_MS = 20;
const SHAPE = { apps: 200, artifacts: 1_000_000, deployments: 100_000, eventsPerDeployment: 3 };
const SMALL_APP = 'bench-137';
const TOKEN = `bench-reader-${randomUUID()}`;
// An environment token: it sees every team, as the token in AETHER_API_TOKENS below does.
const ACTOR = { name: 'bench', role: 'reader' as const, tokenId: null, teams: null };

interface Captured {
  query: string;
  params: unknown[];
}

/** A drizzle handle over postgres.js that keeps every statement the services send. */
function capturingDb(client: postgres.Sql): { db: Db; take(): Captured[] } {
  let log: Captured[] = [];
  const db = drizzle(client, {
    schema,
    logger: { logQuery: (query, params) => log.push({ query, params }) },
  }) as unknown as Db;
  return {
    db,
    take() {
      const taken = log;
      log = [];
      return taken;
    },
  };
}

/** The cursor a client holds after paging down to the `depth`-th newest artifact of `app`. */
async function deepArtifactCursor(client: postgres.Sql, app: string, depth: number): Promise<string> {
  const [row] = await client<{ createdAt: Date; id: string }[]>`
    select a.created_at as "createdAt", a.id from artifacts a join applications p on p.id = a.app_id
     where p.name = ${app} order by a.created_at desc, a.id desc offset ${depth} limit 1`;
  return keysetPage([row!, row!], 1, (r) => r).next_cursor!;
}

// The statements a list sends, as postgres.js prepares them; the rows answered as a JSON page.
const FLOOR = `
const http = require('node:http');
const postgres = require(process.env.POSTGRES_JS);
const sql = postgres(process.env.DATABASE_URL, { max: 10, onnotice: () => {} });
const statements = JSON.parse(process.env.STATEMENTS);
http.createServer(async (req, res) => {
  try {
    let rows = [];
    for (const s of statements) rows = await sql.unsafe(s.query, s.params, { prepare: true });
    const body = JSON.stringify({ items: rows, next_cursor: null });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } catch (err) {
    res.writeHead(500).end(String(err));
  }
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
`;

async function startFloor(databaseUrl: string, statements: Captured[]): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const env = {
    ...process.env,
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    STATEMENTS: JSON.stringify(statements),
    POSTGRES_JS: path.join(ROOT, 'node_modules/postgres/cjs/src/index.js'),
  };
  const child = spawn(process.execPath, ['-e', FLOOR], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

function row(name: string, s: WrkSummary, floor?: WrkSummary): string {
  const ratio = floor ? `${(s.requestsPerSec / floor.requestsPerSec).toFixed(2)}x` : '';
  const errors = s.non2xx + s.socketErrors > 0 ? `  (${s.non2xx} non-2xx, ${s.socketErrors} socket errors)` : '';
  const met = s.p95Ms !== null && s.p95Ms < TARGET_P95_MS && s.non2xx + s.socketErrors === 0;
  const req = `${s.requestsPerSec.toFixed(0).padStart(6)} req/s ${ratio.padStart(6)}`;
  return `${name.padEnd(46)} ${req}  p50 ${fmt(s.p50Ms)}  p95 ${fmt(s.p95Ms)}  p99 ${fmt(s.p99Ms)}  ${met ? 'MET' : 'NOT MET'}${errors}`;
}
const fmt = (ms: number | null) => (ms === null ? '   -   ' : `${ms.toFixed(2).padStart(7)} ms`);

/** Each list: its URL for wrk, and the service call that runs the same SQL in-process. */
function lists(deepCursor: string) {
  const trpc = (proc: string, input: object) => `/api/trpc/${proc}?input=${encodeURIComponent(JSON.stringify(input))}`;
  const ctx = (db: Db) => ({ db, actor: ACTOR });
  return [
    {
      name: `GET /artifacts?app_name=${BIG_APP}`,
      path: `/artifacts?app_name=${BIG_APP}`,
      run: (db: Db) => listArtifacts(ctx(db), ZListArtifactsInput.parse({ app_name: BIG_APP })),
    },
    {
      name: `GET /artifacts?app_name=${SMALL_APP}`,
      path: `/artifacts?app_name=${SMALL_APP}`,
      run: (db: Db) => listArtifacts(ctx(db), ZListArtifactsInput.parse({ app_name: SMALL_APP })),
    },
    {
      name: 'GET /artifacts (every app)',
      path: '/artifacts',
      run: (db: Db) => listArtifacts(ctx(db), ZListArtifactsInput.parse({})),
    },
    {
      name: 'GET /artifacts, keyset page 2,000 rows deep',
      path: `/artifacts?app_name=${BIG_APP}&cursor=${deepCursor}`,
      run: (db: Db) => listArtifacts(ctx(db), ZListArtifactsInput.parse({ app_name: BIG_APP, cursor: deepCursor })),
    },
    {
      name: `GET /deployments?app_name=${BIG_APP}`,
      path: `/deployments?app_name=${BIG_APP}`,
      run: (db: Db) => listAllDeployments(ctx(db), ZListAllDeploymentsInput.parse({ app_name: BIG_APP })),
    },
    {
      name: 'GET /deployments (every app)',
      path: '/deployments',
      run: (db: Db) => listAllDeployments(ctx(db), ZListAllDeploymentsInput.parse({})),
    },
    {
      name: `GET /apps/${BIG_APP}/deployments`,
      path: `/apps/${BIG_APP}/deployments`,
      run: (db: Db) => listDeployments(ctx(db), ZListDeploymentsInput.parse({ app_name: BIG_APP })),
    },
    {
      name: 'tRPC console.artifacts (portal)',
      path: trpc('console.artifacts', { app_name: BIG_APP, limit: 50 }),
      run: (db: Db) => listArtifactsWithKeys(ctx(db), ZConsoleArtifactsInput.parse({ app_name: BIG_APP, limit: 50 })),
    },
    {
      name: 'tRPC console.timeline (portal)',
      path: trpc('console.timeline', { app_name: BIG_APP, limit: 20 }),
      run: (db: Db) => getDeploymentTimeline(ctx(db), ZTimelineInput.parse({ app_name: BIG_APP, limit: 20 })),
    },
  ];
}

/**
 * What a plan says about index use: a Seq Scan of a big table fails; so does a top-N sort,
 * which means the index found every matching row (a whole app's history) and the page was
 * sorted out of them instead of read in index order.
 */
function planVerdict(plan: string): string | null {
  const scans = [...plan.matchAll(/Seq Scan on (artifacts|deployments|deployment_events)\b/g)].map((m) => m[1]);
  if (scans.length) return `SEQ SCAN on ${scans.join(', ')}`;
  if (/top-N heapsort/.test(plan)) return 'index, but every matching row sorted (top-N heapsort)';
  return null;
}

if (!WRK) throw new Error('wrk is not installed (apt-get install wrk; npm run bench installs it)');
assertBuilt();
const scratchDir = mkdtempSync(path.join(os.tmpdir(), 'aether-lists-bench-'));
const p95Script = path.join(scratchDir, 'p95.lua');
writeFileSync(p95Script, P95_SCRIPT);
const db = await createScratchDatabase();
const client = postgres(db.url, { max: 2, onnotice: () => {} });
const prefix = `bench-lists-${randomUUID()}`;
let plane: Awaited<ReturnType<typeof startPlaneProcess>> | null = null;
let floor: { url: string; child: ChildProcess } | null = null;
try {
  await migrateDatabase({ databaseUrl: db.url, dataDir: scratchDir });
  const seedStart = Date.now();
  await seedListTables(client, SHAPE);
  const [counts] = await client<{ apps: number; artifacts: number; deployments: number; big: number }[]>`
    select (select count(*)::int from applications) apps, (select count(*)::int from artifacts) artifacts,
           (select count(*)::int from deployments) deployments,
           (select count(*)::int from artifacts a join applications p on p.id = a.app_id where p.name = ${BIG_APP}) big`;
  console.log(
    `seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s: ${counts!.apps} apps, ${counts!.artifacts} artifacts (${counts!.big} in ${BIG_APP}), ${counts!.deployments} deployments\n`,
  );

  const all = lists(await deepArtifactCursor(client, BIG_APP, 2000));
  console.log('EXPLAIN (ANALYZE, BUFFERS) of the SQL each list runs (captured from the services)');
  const capture = capturingDb(client);
  let indexed = 0;
  let floorStatements: Captured[] = [];
  for (const list of all) {
    await list.run(capture.db);
    const sent = capture.take();
    if (list === all[0]) floorStatements = sent;
    // The app lookup by name (applications_name_unique) is the same for every list: left out.
    let clean = true;
    for (const s of sent.filter((c) => /from "(artifacts|deployments|deployment_events)"/.test(c.query))) {
      const plan = (await client.unsafe(`explain (analyze, buffers) ${s.query}`, s.params as never[]))
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      const verdict = planVerdict(plan);
      clean &&= verdict === null;
      console.log(`\n-- ${list.name}\n${s.query}\n${plan}\n=> ${verdict ?? 'index scans, rows read in index order'}`);
    }
    if (clean) indexed++;
  }

  floor = await startFloor(db.url, floorStatements);
  plane = await startPlaneProcess(
    {
      AETHER_DATA_DIR: path.join(scratchDir, 'data'),
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      AETHER_QUEUE_PREFIX: prefix,
      AETHER_API_TOKENS: `${TOKEN}:reader:bench`,
      AETHER_WORKERS: 'off',
      AETHER_LOG_LEVEL: 'warn',
    },
    await freePort(),
  );
  const auth = { Authorization: `Bearer ${TOKEN}` };
  const load = (url: string) => runWrk(url, '', SECS, { headers: auth, script: p95Script });

  console.log(
    `\nwrk -t2 -c32 -d${SECS}s per list against the production server; ratios against the floor; target p95 < ${TARGET_P95_MS} ms\n`,
  );
  const floorRun = await load(`${floor.url}/`);
  console.log(row(`floor: node:http + postgres.js, ${all[0]!.name.slice(4)}`, floorRun));
  const runs: WrkSummary[] = [];
  for (const list of all) {
    const probe = await fetch(`${plane.url}${list.path}`, { headers: auth });
    if (!probe.ok) throw new Error(`${list.name}: ${probe.status} ${await probe.text()}`);
    runs.push(await load(`${plane.url}${list.path}`));
    console.log(row(list.name, runs.at(-1)!, floorRun));
  }

  console.log(
    `\nSummary (target: p95 < ${TARGET_P95_MS} ms at 32 connections, EXPLAIN without Seq Scan on artifacts/deployments)`,
  );
  for (const [i, list] of all.entries()) console.log(row(list.name, runs[i]!, floorRun));
  const fast = runs.filter((s) => s.p95Ms !== null && s.p95Ms < TARGET_P95_MS).length;
  console.log(`p95 under ${TARGET_P95_MS} ms: ${fast}/${all.length} ${fast === all.length ? 'MET' : 'NOT MET'}`);
  console.log(
    `index use (no Seq Scan, no sort of a whole app): ${indexed}/${all.length} ${indexed === all.length ? 'MET' : 'NOT MET'}`,
  );
} finally {
  floor?.child.kill('SIGKILL');
  await plane?.stop();
  await deletePrefix(prefix);
  await client.end({ timeout: 5 });
  await db.drop();
  rmSync(scratchDir, { recursive: true, force: true });
}
