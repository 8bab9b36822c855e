/**
 * A bounded soak: BENCH_DEPLOYS real `aether deploy` runs (the CLI bundle, each its own process,
 * BENCH_CONCURRENCY at a time) across BENCH_APPS apps, while a fault injector takes something
 * away every BENCH_FAULT_EVERY_SECS, at random: the PostgreSQL link cut (connections refused,
 * or packets dropped) or Redis shut down for BENCH_FAULT_SECS, or the worker process SIGKILLed
 * and started again that much later. The production control plane (server/http/main.ts,
 * built) runs on a scratch database behind a cuttable TCP link, a scratch redis-server with AOF
 * and the fs store; its BullMQ workers in a separate `npm run worker`, as the chart runs them.
 *
 * Each deploy uploads a new artifact (the project carries its own deploy number) and follows
 * the rollout (no --detach). A deploy whose CLI exits non-zero is run once more, as a user
 * would, and counted apart. After each fault: the time from its restore until the API answers
 * GET /apps with 200 again, and until the faulted part is ready (the plane's /readyz for the
 * database and Redis, the worker's /healthz for the worker). Once every deploy is done and the
 * plane has settled: the fault suite's invariants (tests/faults/invariants.ts), no 5xx but 503,
 * no crashed procedure, no app process the runtime does not record, and every app a deploy
 * succeeded for still running one deployment.
 *
 * Target (printed, never failing the process): every deploy finishes, and no invariant breaks.
 *
 *   npm run build && npx tsx tests/bench/soak.bench.ts
 *     (BENCH_DEPLOYS=200, BENCH_APPS=20, BENCH_CONCURRENCY=16, BENCH_FAULT_EVERY_SECS=8,
 *      BENCH_FAULT_SECS=4, BENCH_DEPLOY_TIMEOUT_SECS=300 (a CLI run still going is killed, and
 *      counts as failed), BENCH_SEED (random; printed, to replay a run's fault sequence),
 *      BENCH_APP_PORT_RANGE=27000-27499)
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { appPids, recordedPids } from '../support/app-processes';
import { assertBuilt } from '../support/control-plane-process';
import { startScratchRedis } from '../support/scratch-redis';
import { createApp } from '../faults/fault-app';
import { deploymentRows, serverErrors } from '../faults/fault-checks';
import { killUnrecordedApps } from '../faults/fault-cleanup';
import { makeCliHome, startCli, type DeployJson } from '../faults/fault-cli';
import { startFaultPlane, type FaultPlane } from '../faults/fault-plane';
import { checkInvariants } from '../faults/invariants';
import { mulberry32 } from '../support/fixture-node-modules';

const DEPLOYS = Number(process.env.BENCH_DEPLOYS ?? 200);
const APPS = Number(process.env.BENCH_APPS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const FAULT_EVERY_MS = Number(process.env.BENCH_FAULT_EVERY_SECS ?? 8) * 1000;
const FAULT_HOLD_MS = Number(process.env.BENCH_FAULT_SECS ?? 4) * 1000;
const SEED = Number(process.env.BENCH_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Out of the range the fault tests' planes use, so a soak and `npm test` do not hand out the same ports. */
const APP_PORT_RANGE = process.env.BENCH_APP_PORT_RANGE ?? '27000-27499';
/** A killed worker's jobs go to the next one after this long (BullMQ's stall detection). */
const JOB_LOCK_SECS = 5;
/** Longer than the CLI's own retry budget (60 s) plus a rollout: a CLI still running by then is stuck. */
const DEPLOY_TIMEOUT_MS = Number(process.env.BENCH_DEPLOY_TIMEOUT_SECS ?? 300) * 1000;
const RECOVER_TIMEOUT_MS = 60_000;
const SETTLE_MS = 120_000;
const DEPLOY_ARGS = ['deploy', '--no-install', '--no-sbom', '--format', 'json'];

const FAULTS = ['pg-refuse', 'pg-blackhole', 'redis-restart', 'worker-kill'] as const;
type FaultKind = (typeof FAULTS)[number];

interface FaultRecord {
  kind: FaultKind;
  /** When it struck, ms after the deploys started. */
  atMs: number;
  /** From the cut, stop or kill to the restore, restart or start returning. */
  downMs: number;
  /** From the restore until GET /apps answered 200; null when it did not within RECOVER_TIMEOUT_MS. */
  apiMs: number | null;
  /** From the restore until the faulted part said ready; null likewise. */
  readyMs: number | null;
  error?: string;
}

interface Attempt {
  code: number;
  status: string | null;
  ms: number;
  tail: string;
}

interface DeployOutcome {
  n: number;
  app: string;
  attempts: Attempt[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Polls `ok` every 100 ms from now; ms until it first held, or null after RECOVER_TIMEOUT_MS. */
async function timeUntil(ok: () => Promise<boolean>): Promise<number | null> {
  const t0 = performance.now();
  while (performance.now() - t0 < RECOVER_TIMEOUT_MS) {
    if (await ok().catch(() => false)) return Math.round(performance.now() - t0);
    await sleep(100);
  }
  return null;
}

const answers200 = (url: string) => async () =>
  (await fetch(url, { signal: AbortSignal.timeout(10_000) })).status === 200;

assertBuilt();
// mulberry32: the fault sequence replays from BENCH_SEED.
const random = mulberry32(SEED);
const marker = `soak-${randomUUID()}`;
const redis = await startScratchRedis();
let fp: FaultPlane | undefined;
const started = Date.now();
try {
  fp = await startFaultPlane({
    workers: 'process',
    redisUrl: redis.url,
    env: {
      // The worker handle waits for the worker's `workers started` line, an info log.
      AETHER_LOG_LEVEL: 'info',
      AETHER_JOB_LOCK_SECS: String(JOB_LOCK_SECS),
      AETHER_ROUTER_PORT: '0',
      // For the worker too: it runs the rollouts, and takes no default from the plane's launcher.
      AETHER_APP_PORT_RANGE: APP_PORT_RANGE,
    },
  });
  const plane = fp;
  const apps = Array.from({ length: APPS }, (_, i) => `soak-${String(i).padStart(2, '0')}`);
  for (const app of apps) await createApp(plane, app, marker);

  console.log(
    `soak: ${DEPLOYS} deploys across ${APPS} apps from ${CONCURRENCY} concurrent CLI processes; ` +
      `a fault every ${secs(FAULT_EVERY_MS)}, held ${secs(FAULT_HOLD_MS)}; seed ${SEED}`,
  );
  const t0 = Date.now();
  const faults: FaultRecord[] = [];
  let deploying = true;
  /** What each killed worker printed: the crash check reads every worker's output, not only the last one's. */
  const deadWorkersOutput: string[] = [];

  /** One fault: take the part away, hold, bring it back, then time the way back to 200. */
  async function inject(kind: FaultKind): Promise<FaultRecord> {
    const atMs = Date.now() - t0;
    const down = performance.now();
    let ready: () => Promise<boolean> = answers200(`${plane.plane.url}/readyz`);
    let error: string | undefined;
    try {
      if (kind === 'pg-refuse' || kind === 'pg-blackhole') {
        plane.pgLink.cut(kind === 'pg-refuse' ? 'refuse' : 'blackhole');
        await sleep(FAULT_HOLD_MS);
        plane.pgLink.restore();
      } else if (kind === 'redis-restart') {
        await redis.stop();
        await sleep(FAULT_HOLD_MS);
        await redis.start();
      } else {
        await plane.worker!.kill('SIGKILL');
        deadWorkersOutput.push(plane.worker!.output());
        await sleep(FAULT_HOLD_MS);
        await plane.worker!.start();
        ready = answers200(`${plane.worker!.url}/healthz`);
      }
    } catch (err) {
      error = (err as Error).message.split('\n')[0];
    }
    const downMs = Math.round(performance.now() - down);
    const [apiMs, readyMs] = await Promise.all([
      timeUntil(async () => (await plane.api('GET', '/apps', undefined, 'reader')).status === 200),
      timeUntil(ready),
    ]);
    return { kind, atMs, downMs, apiMs, readyMs, error };
  }

  async function injectUntilDone(): Promise<void> {
    for (;;) {
      const wakeAt = Date.now() + FAULT_EVERY_MS;
      while (deploying && Date.now() < wakeAt) await sleep(100);
      if (!deploying) return;
      const f = await inject(FAULTS[Math.floor(random() * FAULTS.length)]!);
      faults.push(f);
      console.log(
        `  [${secs(f.atMs).padStart(8)}] ${f.kind.padEnd(13)} down ${secs(f.downMs)}, ` +
          `API 200 after ${f.apiMs ?? '-'} ms, ready after ${f.readyMs ?? '-'} ms${f.error ? `; ${f.error}` : ''}`,
      );
    }
  }

  /** One CLI run on a fresh project of the app's, whose release.json makes the artifact new. */
  async function attempt(n: number, app: string): Promise<Attempt> {
    const home = await makeCliHome(plane.plane.url, { name: app });
    try {
      await writeFile(path.join(home.project, 'release.json'), JSON.stringify({ app, n }));
      const t = performance.now();
      const cli = startCli(home, [...DEPLOY_ARGS, '--app', app]);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        cli.kill();
      }, DEPLOY_TIMEOUT_MS);
      const run = await cli.done.finally(() => clearTimeout(timer));
      // One JSON document (pretty-printed): the result, with `error` in it when the command failed.
      let doc: Partial<DeployJson> & { error?: { code: string; message: string } } = {};
      try {
        doc = JSON.parse(run.stdout) as typeof doc;
      } catch {
        // killed, or crashed before printing: stderr says why
      }
      const said = doc.error
        ? `${doc.error.code}: ${doc.error.message}`
        : run.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 500);
      const tail = timedOut ? `still running after ${secs(DEPLOY_TIMEOUT_MS)}, killed; last said: ${said}` : said;
      return { code: run.code, status: doc.deployment?.status ?? null, ms: performance.now() - t, tail };
    } finally {
      await home.close();
    }
  }

  const outcomes: DeployOutcome[] = [];
  let next = 0;
  async function deployLane(): Promise<void> {
    while (next < DEPLOYS) {
      const n = next++;
      const app = apps[n % APPS]!;
      const once = () =>
        attempt(n, app).catch((err: unknown): Attempt => ({ code: -1, status: null, ms: 0, tail: String(err) }));
      // The retry deploys the same project again, as a user would after a failed command.
      const attempts = [await once()];
      if (attempts[0]!.code !== 0) attempts.push(await once());
      outcomes.push({ n, app, attempts });
      for (const [i, a] of attempts.entries()) {
        if (a.code !== 0) console.log(`  deploy #${n} (${app}) try ${i + 1}: exit ${a.code}: ${a.tail}`);
      }
      if (outcomes.length % Math.max(1, Math.floor(DEPLOYS / 10)) === 0) {
        console.log(`  [${secs(Date.now() - t0).padStart(8)}] ${outcomes.length}/${DEPLOYS} deploys done`);
      }
    }
  }

  const injector = injectUntilDone();
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, deployLane));
  } finally {
    deploying = false;
    await injector;
  }
  const deployMs = Date.now() - t0;

  // Whatever the last fault did, everything is back before the checks read the system.
  plane.pgLink.restore();
  if (!redis.running()) await redis.start();
  if (!(await answers200(`${plane.worker!.url}/healthz`)().catch(() => false))) {
    await plane.worker!.start().catch((err: unknown) => console.log(`worker did not start: ${String(err)}`));
  }

  const broken: string[] = [];
  for (const f of faults) {
    const which = `${f.kind} at ${secs(f.atMs)}`;
    if (f.apiMs === null) broken.push(`${which}: GET /apps not 200 within ${RECOVER_TIMEOUT_MS} ms of the restore`);
    if (f.readyMs === null) broken.push(`${which}: not ready within ${RECOVER_TIMEOUT_MS} ms of the restore`);
    if (f.error) broken.push(`${which}: the injector failed: ${f.error}`);
  }
  broken.push(...(await checkInvariants(plane, { settleMs: SETTLE_MS })));
  const succeeded = new Set(outcomes.filter((o) => o.attempts.some((a) => a.code === 0)).map((o) => o.app));
  const rows = await deploymentRows(plane.databaseUrl);
  for (const app of succeeded) {
    const running = rows.filter((d) => d.app === app && d.status === 'running').length;
    if (running === 0) broken.push(`app ${app}: a deploy succeeded, but no deployment is running`);
  }
  broken.push(...(await serverErrors(plane.plane.url)).map((l) => `a 5xx other than 503: ${l}`));
  for (const [who, output] of [
    ['control plane', plane.plane.output()],
    ['worker', [...deadWorkersOutput, plane.worker!.output()].join('\n')],
  ] as const) {
    const crashed = output.split('\n').filter((l) => /"level":"error".*procedure crashed/.test(l));
    if (crashed.length) {
      broken.push(`${who}: ${crashed.length} crashed procedure(s), first: ${crashed[0]!.slice(0, 300)}`);
    }
  }
  let recorded = 0;
  for (const app of apps) recorded += (await recordedPids(plane.dataDir, app)).length;
  const onHost = (await appPids(marker)).length;
  if (onHost !== recorded) broken.push(`${onHost} app process(es) on the host, the runtime records ${recorded}`);

  const firstTry = outcomes.filter((o) => o.attempts[0]!.code === 0).length;
  const afterRetry = outcomes.filter((o) => o.attempts.length === 2 && o.attempts[1]!.code === 0).length;
  const failed = outcomes.length - firstTry - afterRetry;
  const finals = new Map<string, number>();
  for (const o of outcomes) {
    const last = o.attempts.at(-1)!;
    const key = last.code === 0 ? (last.status ?? 'no status') : `exit ${last.code}`;
    finals.set(key, (finals.get(key) ?? 0) + 1);
  }
  const ms = outcomes.flatMap((o) => o.attempts.map((a) => a.ms)).sort((a, b) => a - b);
  const q = (p: number) => secs(ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)] ?? Number.NaN);

  console.log(`\nsoak: ${DEPLOYS} deploys, ${APPS} apps, ${CONCURRENCY} CLI processes, seed ${SEED}`);
  console.log(
    `deploys finished: ${firstTry} first try, ${afterRetry} after a retry, ${failed} failed (of ${DEPLOYS}) ` +
      `in ${secs(deployMs)}; per CLI run p50 ${q(0.5)}, p95 ${q(0.95)}, max ${q(1)}`,
  );
  console.log(`  last outcome: ${[...finals].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  console.log(`faults (${faults.length}), time to recover from the restore:`);
  const row = (at: string, kind: string, down: string, api: string, ready: string) =>
    console.log(`  ${at.padStart(8)}  ${kind.padEnd(13)} ${down.padStart(7)} ${api.padStart(9)} ${ready.padStart(9)}`);
  const cell = (v: number | null) => (v === null ? 'never' : `${v} ms`);
  row('at', 'fault', 'down', 'API 200', 'ready');
  for (const f of faults) row(secs(f.atMs), f.kind, secs(f.downMs), cell(f.apiMs), cell(f.readyMs));
  for (const kind of FAULTS) {
    const mine = faults.filter((f) => f.kind === kind && f.apiMs !== null).map((f) => f.apiMs!);
    if (mine.length) console.log(`  ${kind.padEnd(13)} n=${mine.length}, API 200 within ${Math.max(...mine)} ms`);
  }
  console.log(`invariants broken: ${broken.length === 0 ? 'none' : broken.length}`);
  for (const b of broken) console.log(`  - ${b.replace(/\s*\n\s*/g, ' ')}`);
  console.log(`target all ${DEPLOYS} deploys finish: ${firstTry + afterRetry === DEPLOYS ? 'MET' : 'MISSED'}`);
  console.log(`target no invariant broken: ${broken.length === 0 ? 'MET' : 'MISSED'}`);
} finally {
  try {
    await fp?.close();
  } finally {
    // Instances a killed worker started and never recorded: close() only stops the recorded ones.
    await killUnrecordedApps(marker);
    await redis.close();
    console.log(`total ${secs(Date.now() - started)}`);
  }
}
