/**
 * Upload throughput of the CLI's uploader (cli/upload) against curl: same file, same server,
 * same run. A 64 MiB file goes to three stores:
 *
 *   s3-direct  fauxqs in its own process (in-memory S3, with S3's body limit: tests/support/fauxqs.ts)
 *   s3-proxy   the tests' harness: fauxqs behind the SigV4-checking proxy, both in this process
 *              next to the control plane (one more hop, in JS, sharing one event loop)
 *   fs         the control plane's own fs driver (node:http, streams to disk and hashes)
 *
 * Ours: `uploadArtifact` with its defaults (8 MiB parts, 4 at a time), in a child process of
 * its own like the CLI. Each child uploads 3 times: the first is the CLI's case (a cold
 * process, JIT not warmed up), the others show the same code warm. Timed inside the child
 * (Node startup excluded): end to end (init, a presign per part, the PUTs, complete) and the PUT
 * phase (first PUT to last part, presigns between rounds included).
 * curl: the same 8 parts presigned beforehand (not timed), `--parallel --parallel-max 4` and
 * sequential; the same parts end to end (init with presigns, PUTs, complete: what a curl-based
 * uploader would take, including the store's assembly of the parts that the PUT phase leaves
 * out); and one `curl -T` of the whole file: the issue's baseline.
 * Medians of BENCH_RUNS (3). Target: ours >= 0.9x curl.
 *
 *   npx tsx tests/bench/upload.bench.ts     (BENCH_MIB, BENCH_RUNS, BENCH_TARGETS=s3-direct,fs)
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { artifactStorageKey } from '../../server/contract/digest';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_MIB ?? 64) * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const UPLOADS_PER_CHILD = 3;
const PART = 8 * MiB;
const CONCURRENCY = 4;
const self = fileURLToPath(import.meta.url);
const exec = promisify(execFile);

interface ClientJob {
  apiBase: string;
  token: string;
  apps: string[];
  file: string;
  digest: string;
  sizeBytes: number;
  env: Record<string, string>;
}
interface Timing {
  wallMs: number;
  putMs: number;
}

/** Child mode: one upload per app, in this process, timed inside it; results on stdout. */
async function runClient(job: ClientJob): Promise<void> {
  const { createApi } = await import('../../cli/client');
  const { uploadArtifact } = await import('../../cli/upload');
  const silent = { log() {}, info() {}, warn() {}, result() {}, json() {} };
  const api = createApi({ apiBase: job.apiBase, token: job.token });
  const timings: Timing[] = [];
  for (const app of job.apps) {
    const t0 = performance.now();
    const r = await uploadArtifact({ api, apiBase: job.apiBase, app, file: job.file, digest: job.digest, sizeBytes: job.sizeBytes, env: job.env, out: silent, format: 'json', traceId: 'bench' });
    if (!r.uploaded) throw new Error(`nothing uploaded for ${app}`);
    timings.push({ wallMs: performance.now() - t0, putMs: r.durationMs });
  }
  // Exit once written: idle keep-alive sockets would otherwise hold the child for seconds.
  process.stdout.write(JSON.stringify(timings), () => process.exit(0));
}

function childUploads(job: ClientJob): Promise<Timing[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, self, '--client', JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Timing[]) : reject(new Error(`client exited ${code}`))));
  });
}

/** fauxqs in a child process: the store does not share an event loop with the control plane. */
function startFauxqsProcess(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [...process.execArgv, self, '--fauxqs'], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Also when the bench dies early: an orphaned store would keep its port and memory.
  process.once('exit', () => child.kill());
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve({ url: d.toString().trim().replace(/\/$/, ''), stop: () => child.kill() }));
    child.once('exit', (c) => reject(new Error(`fauxqs exited ${c}`)));
  });
}

/** Child mode: the tests' S3 server (fauxqs with S3's body limit); prints its URL. */
async function runFauxqs(): Promise<void> {
  const { buildS3TestServer } = await import('../support/fauxqs');
  console.log(await buildS3TestServer().listen({ port: 0, host: '127.0.0.1' }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mbps = (ms: number) => SIZE / 1e6 / (ms / 1000);

type Plane = Awaited<ReturnType<(typeof import('../support/harness'))['startTestPlane']>>;
type Row = { target: string; what: string; ms: number | null; note?: string };

/** Every measurement against one target. */
async function measure(target: string, plane: Plane, dir: string, file: string, digest: string, partFiles: string[], token: string): Promise<Row[]> {
  const caller = plane.caller('deployer');
  let seq = 0;
  const uploaded: string[] = [];
  const freshApp = async () => {
    const name = `bench-${target}-${++seq}`;
    await caller.apps.create({ name });
    uploaded.push(name);
    return name;
  };
  // Untimed, after each round: fauxqs keeps every object in its heap and slows as they pile up
  // (a complete took 200 ms with none stored, 570 ms with twenty); the fs store's dirty pages
  // would likewise tax later rounds' fsyncs.
  const purge = async () => {
    for (const app of uploaded.splice(0)) await plane.services.storage.delete(artifactStorageKey(app, digest));
  };
  const ours = async (threshold: string) => {
    const cold: Timing[] = [];
    const warm: Timing[] = [];
    const env = { AETHER_MULTIPART_THRESHOLD_BYTES: threshold, AETHER_MULTIPART_PART_SIZE_BYTES: String(PART), AETHER_UPLOAD_CONCURRENCY: String(CONCURRENCY), XDG_CACHE_HOME: dir };
    for (let i = 0; i < RUNS; i++) {
      const apps = [];
      for (let k = 0; k < UPLOADS_PER_CHILD; k++) apps.push(await freshApp());
      const [first, ...rest] = await childUploads({ apiBase: plane.url, token, apps, file, digest, sizeBytes: SIZE, env });
      cold.push(first!);
      warm.push(...rest);
      await purge();
    }
    const m = (xs: Timing[], k: keyof Timing) => median(xs.map((x) => x[k]));
    return { coldWall: m(cold, 'wallMs'), coldPut: m(cold, 'putMs'), warmWall: m(warm, 'wallMs'), warmPut: m(warm, 'putMs') };
  };
  /**
   * curl moving the bytes of the 8 parts. Without `e2e`, only the PUTs are timed (URLs presigned
   * beforehand). With it, the same server work as ours is timed too: init presigning every part,
   * the PUTs, and complete with curl's ETags (the RPCs made in-process, cheaper than ours).
   */
  const curlParts = async (parallel: boolean, e2e = false) => {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const app = await freshApp();
      const t0 = performance.now();
      // Every part presigned with the init (one round trip, as few as an uploader can make), and
      // the same part layout declared as ours declares.
      const presign_part_numbers = partFiles.map((_, k) => k + 1);
      const { upload_id, presigned } = await caller.artifacts.multipartInit({ app_name: app, digest, size_bytes: SIZE, part_size_bytes: PART, presign_part_numbers });
      const urls = presigned!.parts.map((p) => p.url);
      const args = ['-sS', '-H', 'Expect:', '-w', '%{http_code} %{url_effective} %header{etag}\n', ...(parallel ? ['--parallel', '--parallel-max', String(CONCURRENCY)] : [])];
      args.push(...partFiles.flatMap((p, k) => ['-T', p, '-o', '/dev/null', urls[k]!]));
      const c0 = performance.now();
      const { stdout } = await exec('curl', args, { maxBuffer: 1 << 20 });
      const curlMs = performance.now() - c0;
      const answers = stdout.trim().split('\n').map((line) => line.split(' '));
      if (answers.some(([code]) => code !== '200')) throw new Error(`curl part PUTs answered ${stdout}`);
      if (e2e) {
        const etags = answers.map(([, url, etag]) => ({ part_number: urls.indexOf(url!) + 1, etag: etag! })).sort((a, b) => a.part_number - b.part_number);
        await caller.artifacts.multipartComplete({ app_name: app, digest, upload_id, size_bytes: SIZE, parts: etags });
        times.push(performance.now() - t0);
      } else {
        times.push(curlMs);
        await caller.artifacts.multipartAbort({ app_name: app, digest, upload_id });
      }
      await purge();
    }
    return median(times);
  };
  const curlSingle = async (): Promise<{ ms: number | null; note?: string }> => {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const p = await caller.artifacts.presign({ app_name: await freshApp(), digest, size_bytes: SIZE });
      const headers = Object.entries(p.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
      const t0 = performance.now();
      const res = await exec('curl', ['-sS', '-H', 'Expect:', ...headers, '-w', '%{http_code}', '-o', '/dev/null', '-T', file, p.upload_url]).catch((err: { stderr?: string }) => ({
        stdout: err.stderr?.trim() ?? 'failed',
      }));
      times.push(performance.now() - t0);
      await purge();
      if (res.stdout.trim() !== '200') return { ms: null, note: `refused (${res.stdout.trim()})` };
    }
    return { ms: median(times) };
  };

  console.error(`bench: ${target}...`);
  // Warm-up, not measured: the plane's first requests pay for its JIT and connection pools.
  await childUploads({ apiBase: plane.url, token, apps: [await freshApp()], file, digest, sizeBytes: SIZE, env: { XDG_CACHE_HOME: dir, AETHER_MULTIPART_THRESHOLD_BYTES: '1' } });
  await purge();
  const rows: Row[] = [];
  const mp = await ours('1');
  rows.push(
    { target, what: 'ours multipart e2e, cold', ms: mp.coldWall },
    { target, what: 'ours multipart PUT phase, cold', ms: mp.coldPut },
    { target, what: 'ours multipart e2e, warm', ms: mp.warmWall },
    { target, what: 'ours multipart PUT phase, warm', ms: mp.warmPut },
    { target, what: `curl parts, ${CONCURRENCY} parallel`, ms: await curlParts(true) },
    { target, what: 'curl parts, sequential', ms: await curlParts(false) },
    { target, what: `curl multipart e2e, ${CONCURRENCY} parallel`, ms: await curlParts(true, true) },
  );
  if (target === 'fs') {
    const single = await ours('0');
    rows.push(
      { target, what: 'ours single PUT e2e, cold', ms: single.coldWall },
      { target, what: 'ours single PUT, the PUT alone, cold', ms: single.coldPut },
      { target, what: 'ours single PUT e2e, warm', ms: single.warmWall },
      { target, what: 'ours single PUT, the PUT alone, warm', ms: single.warmPut },
    );
  }
  rows.push({ target, what: 'curl -T whole file', ...(await curlSingle()) });
  return rows;
}

async function main(): Promise<void> {
  await exec('curl', ['--version']).catch(() => {
    throw new Error('curl is not installed: this bench compares against it');
  });
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const { startTestPlane, TOKENS } = await import('../support/harness');
  const { startTestS3 } = await import('../support/s3');

  const dir = await mkdtemp(path.join(os.tmpdir(), 'aether-upload-bench-'));
  const bytes = randomBytes(SIZE);
  const file = path.join(dir, 'artifact.bin');
  await writeFile(file, bytes);
  const digest = createHash('sha256').update(bytes).digest('hex');
  const partFiles: string[] = [];
  for (let at = 0; at < SIZE; at += PART) {
    partFiles.push(path.join(dir, `part-${partFiles.length + 1}`));
    await writeFile(partFiles.at(-1)!, bytes.subarray(at, at + PART));
  }

  // The planes sign with the checking proxy's credentials; the bare fauxqs checks none.
  const s3 = await startTestS3();
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  const bare = await startFauxqsProcess();
  const admin = new S3Client({ endpoint: bare.url, region: s3.region, forcePathStyle: true, credentials: s3.credentials });
  await admin.send(new CreateBucketCommand({ Bucket: s3.bucket }));
  admin.destroy();

  const planeEnv: Record<string, Record<string, string>> = { 's3-direct': { ...s3.env, AETHER_S3_ENDPOINT_URL: bare.url }, 's3-proxy': s3.env, fs: {} };
  const wanted = (process.env.BENCH_TARGETS ?? 's3-direct,s3-proxy,fs').split(',');
  const rows: Row[] = [];
  try {
    for (const target of wanted) {
      const plane = await startTestPlane('postgres', planeEnv[target]);
      try {
        rows.push(...(await measure(target, plane, dir, file, digest, partFiles, TOKENS.deployer)));
      } finally {
        await plane.close();
      }
    }
  } finally {
    await s3.stop();
    bare.stop();
    await rm(dir, { recursive: true, force: true });
  }
  report(rows);
}

function report(rows: Row[]): void {
  console.log(`upload bench: ${SIZE / MiB} MiB, ${PART / MiB} MiB parts, ${CONCURRENCY} at a time, medians of ${RUNS}, MB = 10^6 bytes`);
  console.log(`target     ${'what'.padEnd(34)}     ms     MB/s`);
  for (const r of rows) {
    const ms = r.ms === null ? '     -' : r.ms.toFixed(0).padStart(6);
    console.log(`${r.target.padEnd(10)} ${r.what.padEnd(34)} ${ms} ${r.ms === null ? `       -  ${r.note}` : mbps(r.ms).toFixed(1).padStart(8)}`);
  }
  const ms = (target: string, what: string) => rows.find((r) => r.target === target && r.what === what)?.ms ?? null;
  const curlPar = `curl parts, ${CONCURRENCY} parallel`;
  console.log('\nratio ours/curl in throughput (target >= 0.9x):');
  for (const target of new Set(rows.map((r) => r.target))) {
    for (const [label, a, b] of [
      ['multipart e2e, cold    vs curl multipart e2e', 'ours multipart e2e, cold', `curl multipart e2e, ${CONCURRENCY} parallel`],
      ['multipart e2e, warm    vs curl multipart e2e', 'ours multipart e2e, warm', `curl multipart e2e, ${CONCURRENCY} parallel`],
      ['multipart PUT phase, cold vs curl parallel', 'ours multipart PUT phase, cold', curlPar],
      ['multipart PUT phase, warm vs curl parallel', 'ours multipart PUT phase, warm', curlPar],
      ['multipart e2e, cold    vs curl -T', 'ours multipart e2e, cold', 'curl -T whole file'],
      ['multipart e2e, warm    vs curl -T', 'ours multipart e2e, warm', 'curl -T whole file'],
      ['single PUT e2e, warm   vs curl -T', 'ours single PUT e2e, warm', 'curl -T whole file'],
    ] as const) {
      const ta = ms(target, a);
      const tb = ms(target, b);
      if (ta !== null && tb !== null) console.log(`  ${target.padEnd(10)} ${label.padEnd(44)} ${(tb / ta).toFixed(2)}x${tb / ta >= 0.9 ? '' : '  (below)'}`);
    }
  }
  // What the store itself allows: curl doing the whole multipart protocol against one curl -T.
  // A store that re-reads every part at completion (fauxqs hashes and copies them all again)
  // caps any multipart client below this line, however fast the client is.
  console.log('\nceiling for any multipart client, curl multipart e2e vs curl -T:');
  for (const target of new Set(rows.map((r) => r.target))) {
    const ta = ms(target, `curl multipart e2e, ${CONCURRENCY} parallel`);
    const tb = ms(target, 'curl -T whole file');
    if (ta !== null && tb !== null) console.log(`  ${target.padEnd(10)} ${(tb / ta).toFixed(2)}x`);
  }
}

if (process.argv[2] === '--fauxqs') {
  await runFauxqs();
} else if (process.argv[2] === '--client') {
  await runClient(JSON.parse(process.argv[3]!) as ClientJob);
} else {
  await main();
  // Planes, pools and sockets are closed; leftover timers (BullMQ, SDK) must not keep us alive.
  process.exit(0);
}
