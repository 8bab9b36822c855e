/**
 * The upload path under load: 32 concurrent clients, each presign -> PUT (small artifact) ->
 * complete -> wait until stored, for 10 rounds, against the topology production runs: the
 * built control plane (`npm start`, workers off) and a separate worker process
 * (`npm run worker`), on real PostgreSQL and Redis, fs storage. This process only generates
 * load. Beside it, in the same run and at the same concurrency, a trivial procedure
 * (`session.whoami`) as the baseline; the ratio is what to track.
 *
 * Complete-to-stored is measured twice: by the client, polling `artifacts.get` every 5 ms (the
 * `wait` long-poll re-reads every 150 ms, too coarse here), and by the server, as
 * `stored_at - completed_at` on each row (no polling in it at all).
 *
 * Targets (printed, never failing the process): presign p95 < 15 ms, complete-to-stored p95 < 100 ms.
 * The floor line (a bare node:http server under the same load) says what the machine allows.
 *
 *   npm run build && npx tsx tests/bench/artifacts.bench.ts     (BENCH_CLIENTS, BENCH_ROUNDS to change the load)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { sha256, tarGz } from '../support/artifacts';
import { startBenchPlane } from '../support/bench-plane';
import { callFace, callOk, type PlaneUrl } from '../support/faces';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 5);
/** The whole run stays under a minute: clients stop starting rounds after this. */
const BUDGET_MS = 45_000;
const TARGETS = { presignP95: 15, completeToStoredP95: 100 };
const APP = 'bench';

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}
const fmt = (n: number) => n.toFixed(1).padStart(7);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

/** `n` clients each running `body(client, round)` for ROUNDS rounds, within the budget. */
async function concurrently(n: number, deadline: number, body: (client: number, round: number) => Promise<void>) {
  await Promise.all(
    Array.from({ length: n }, async (_, client) => {
      for (let round = 0; round < ROUNDS && Date.now() < deadline; round++) await body(client, round);
    }),
  );
}

async function uploadOnce(plane: PlaneUrl, tag: string, out: { presign: number[]; complete: number[]; toStored: number[]; failures: string[] }) {
  const bytes = tarGz({ 'package.json': '{"name":"bench"}', 'index.js': `console.log(${JSON.stringify(tag)})` });
  const digest = sha256(bytes);
  const [presigned, presignMs] = await timed(() =>
    callOk<{ method: string; upload_url: string; headers: Record<string, string> }>(plane, 'trpc', {
      op: 'presign',
      input: { app_name: APP, digest, size_bytes: bytes.length },
    }),
  );
  out.presign.push(presignMs);
  const put = await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) });
  if (!put.ok) throw new Error(`PUT ${put.status}`);
  const [, completeMs] = await timed(() => callOk(plane, 'trpc', { op: 'complete', input: { app_name: APP, digest, size_bytes: bytes.length } }));
  out.complete.push(completeMs);
  const t0 = performance.now();
  for (;;) {
    const got = await callFace(plane, 'trpc', { op: 'get', input: { app_name: APP, digest }, token: 'reader' });
    const status = (got.data as { status?: string } | undefined)?.status;
    if (status === 'stored') break;
    if (status !== 'verifying' || performance.now() - t0 > 20_000) {
      out.failures.push(`${digest.slice(0, 12)}: ${status ?? got.code}`);
      return;
    }
    await sleep(POLL_MS);
  }
  out.toStored.push(performance.now() - t0);
}

const started = Date.now();
const { plane, databaseUrl, close } = await startBenchPlane({ workers: 'process' });
const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
try {
  await callOk(plane, 'trpc', { op: 'createApp', input: { name: APP } });
  // Warm-up: connections, JIT, first queue round trips.
  const warm = { presign: [] as number[], complete: [] as number[], toStored: [] as number[], failures: [] as string[] };
  for (let i = 0; i < 5; i++) await uploadOnce(plane, `warm-${i}`, warm);

  // Unloaded reference: one client, one request at a time (what a lone CLI sees).
  const solo = { whoami: [] as number[], presign: [] as number[] };
  for (let i = 0; i < 30; i++) {
    solo.whoami.push((await timed(() => callOk(plane, 'trpc', { op: 'whoami', input: {}, token: 'reader' })))[1]);
    const digest = sha256(Buffer.from(`solo-${i}`));
    solo.presign.push((await timed(() => callOk(plane, 'trpc', { op: 'presign', input: { app_name: APP, digest, size_bytes: 100 } })))[1]);
  }

  const deadline = Date.now() + BUDGET_MS;
  // The floor: a bare node:http server answering a constant, under the same 32-client loop
  // from this process. No route can beat it on this machine.
  const bare = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  const floor: number[] = [];
  await concurrently(CLIENTS, deadline, async () => {
    const [, ms] = await timed(async () => (await fetch(bareUrl)).arrayBuffer());
    floor.push(ms);
  });
  bare.close();
  const whoami: number[] = [];
  await concurrently(CLIENTS, deadline, async () => {
    const [, ms] = await timed(() => callOk(plane, 'trpc', { op: 'whoami', input: {}, token: 'reader' }));
    whoami.push(ms);
  });

  const run = { presign: [] as number[], complete: [] as number[], toStored: [] as number[], failures: [] as string[] };
  const t0 = Date.now();
  // One more client samples whoami while the uploads run: the baseline under the same load.
  const underLoad: number[] = [];
  let uploading = true;
  const sampler = (async () => {
    while (uploading) {
      underLoad.push((await timed(() => callOk(plane, 'trpc', { op: 'whoami', input: {}, token: 'reader' })))[1]);
      await sleep(20);
    }
  })();
  await concurrently(CLIENTS, deadline, (client, round) => uploadOnce(plane, `c${client}-r${round}`, run));
  uploading = false;
  await sampler;
  const wallMs = Date.now() - t0;

  // Server side: completed_at -> stored_at of every artifact of this run (warm-up excluded).
  const rows = await sql<{ ms: number }[]>`
    select extract(epoch from (stored_at - completed_at)) * 1000 as ms from artifacts
    where status = 'stored' and completed_at is not null and stored_at is not null
    order by created_at offset 5`;
  const serverSide = rows.map((r) => Number(r.ms));

  const line = (name: string, xs: number[]) => console.log(`${name.padEnd(48)} n=${String(xs.length).padStart(4)}  p50 ${fmt(quantile(xs, 0.5))} ms  p95 ${fmt(quantile(xs, 0.95))} ms`);
  console.log(`\nartifacts bench: ${CLIENTS} clients x ${ROUNDS} rounds, npm start + worker process, postgres + redis, fs storage, ${wallMs} ms wall (${((run.toStored.length / wallMs) * 1000).toFixed(0)} uploads/s)`);
  line('1 client: session.whoami', solo.whoami);
  line('1 client: presign', solo.presign);
  line(`${CLIENTS} clients: bare node:http (the floor)`, floor);
  line(`${CLIENTS} clients: session.whoami`, whoami);
  line('whoami while the uploads run', underLoad);
  line(`${CLIENTS} clients: presign`, run.presign);
  line(`${CLIENTS} clients: complete`, run.complete);
  line(`${CLIENTS} clients: complete -> stored (${POLL_MS} ms poll)`, run.toStored);
  line(`${CLIENTS} clients: complete -> stored (server rows)`, serverSide);
  const presignP95 = quantile(run.presign, 0.95);
  const storedP95 = quantile(run.toStored, 0.95);
  const ratio = (base: number[]) => `p50 ${(quantile(run.presign, 0.5) / quantile(base, 0.5)).toFixed(2)}x  p95 ${(presignP95 / quantile(base, 0.95)).toFixed(2)}x`;
  console.log(`ratio presign / whoami at ${CLIENTS} clients: ${ratio(whoami)};  / whoami under the upload load: ${ratio(underLoad)};  / bare node:http: ${ratio(floor)}`);
  console.log(`target presign p95 < ${TARGETS.presignP95} ms: ${presignP95 < TARGETS.presignP95 ? 'met' : 'MISSED'} (${presignP95.toFixed(1)} ms)`);
  console.log(`target complete->stored p95 < ${TARGETS.completeToStoredP95} ms: ${storedP95 < TARGETS.completeToStoredP95 ? 'met' : 'MISSED'} (${storedP95.toFixed(1)} ms)`);
  if (run.failures.length) console.log(`failures (${run.failures.length}): ${run.failures.slice(0, 5).join(', ')}`);
} finally {
  await sql.end({ timeout: 5 });
  await close();
  console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
