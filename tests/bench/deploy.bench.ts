/**
 * Local-driver deploy overhead: wall time from starting `aether deploy` (the CLI bundle, in
 * its own process) to the new version answering HTTP, minus the raw work measured in the same
 * run on the same bytes:
 *
 *   pack     our packer, in-process (warm): tar + gzip + sha256 + manifest
 *   upload   one PUT of the artifact to a presigned URL of the same store
 *   unpack   safeExtract of the artifact into a fresh directory
 *   start    `npm start` in the unpacked tree, spawned directly, until it answers HTTP
 *
 * What is left is ours: CLI start, API round trips, verification, the rollout job's pickup,
 * fetch + verify from storage, the log writer, health polling, the switch and the CLI noticing.
 * Each run changes the source (a new digest: a real upload, never the HEAD fast path). The
 * control plane is the tests' harness (real Postgres, Redis, fs storage, workers in-process).
 * `--no-install`: dependency install is not part of the deploy path measured here.
 * Medians of BENCH_RUNS (5). Target: overhead <= 300 ms.
 *
 *   npx tsx tests/bench/deploy.bench.ts     (needs the CLI bundle: node scripts/build-cli.mjs)
 */
import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TARGET_MS = 300;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/cli/aether.mjs');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A small service shaped like a real one: a handful of modules and some static data. */
async function writeProject(dir: string, version: number): Promise<void> {
  await mkdir(path.join(dir, 'lib'), { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', scripts: { start: 'node index.js' } }));
  for (let i = 0; i < 40; i++) await writeFile(path.join(dir, 'lib', `m${i}.js`), `module.exports = ${JSON.stringify({ i, text: 'lorem ipsum '.repeat(200) })};\n`);
  await writeFile(
    path.join(dir, 'index.js'),
    [
      `for (let i = 0; i < 40; i++) require('./lib/m' + i);`,
      `require('http').createServer((q, s) => s.end('v${version}')).listen(Number(process.env.PORT), '127.0.0.1');`,
    ].join('\n'),
  );
}

/** Runs the CLI bundle; `stderr` lines are prefixed with when they arrived (ms after spawn). */
function runCli(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; exitedMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } as unknown as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += `${(performance.now() - t0).toFixed(0).padStart(5)} ms  ${d.toString()}`));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr, exitedMs: performance.now() - t0 }));
  });
}

const CLI_STEPS: Array<[string, RegExp]> = [
  ['packed', /\bpacked \d+ files/],
  ['uploaded', /\buploaded |nothing to upload/],
  ['deployment created', /\bcreated deployment /],
];

/** When each CLI step was printed, from runCli's stamped stderr. */
function cliMarks(stderr: string): Record<string, number> {
  const marks: Record<string, number> = {};
  for (const line of stderr.split('\n')) {
    const at = Number(/^\s*(\d+) ms /.exec(line)?.[1]);
    for (const [name, re] of CLI_STEPS) if (re.test(line) && !(name in marks)) marks[name] = at;
  }
  return marks;
}

/** `node -e 0`, spawn to exit: how loaded this machine is (75 ms on an idle 2-core box). */
async function nodeStartMs(): Promise<number> {
  const t0 = performance.now();
  await new Promise((resolve) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).once('exit', resolve));
  return performance.now() - t0;
}

/** Polls every 2 ms until `url` answers `expected` (the raw measure must not hide in a coarse poll). */
async function waitAnswer(url: string, expected: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await fetch(url).then((r) => r.text(), () => null);
    if (body === expected) return;
    if (Date.now() > deadline) throw new Error(`${url} never answered ${expected} (last: ${body})`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Sample {
  total: number;
  /** When the CLI printed each step (ms after its spawn), and when it exited. */
  cli: Record<string, number>;
  pack: number;
  upload: number;
  unpack: number;
  start: number;
  phases: Record<string, number>;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error('build the CLI first: node scripts/build-cli.mjs');
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const { startTestPlane, TOKENS } = await import('../support/harness');
  const { packProject } = await import('../../cli/deploy/artifact');
  const { safeExtract } = await import('../../server/runtime/extract');
  const { freePort } = await import('../support/control-plane-process');

  const work = await mkdtemp(path.join(os.tmpdir(), 'aether-deploy-bench-'));
  const project = path.join(work, 'bench-app');
  const plane = await startTestPlane('postgres', { AETHER_LOG_LEVEL: 'error' });
  const workers = plane.startWorkers();
  const env = { HOME: os.homedir(), XDG_CACHE_HOME: path.join(work, 'cache'), AETHER_API_BASE: plane.url, AETHER_TOKEN: TOKENS.deployer };
  const silent = { log() {}, info() {}, warn() {}, result() {}, json() {} };
  const samples: Sample[] = [];
  const nodeStarts: number[] = [];
  try {
    await plane.caller('deployer').apps.create({ name: 'bench-app' });
    await plane.caller('deployer').apps.create({ name: 'bench-raw' });
    for (let run = 0; run <= RUNS; run++) {
      await writeProject(project, run);
      // --- the deploy, as a user runs it
      const t0 = performance.now();
      const res = await runCli(['deploy', '--no-install', '--format', 'json', ...(process.env.BENCH_CLI_ARGS?.split(' ').filter(Boolean) ?? [])], project, env);
      if (res.code !== 0) throw new Error(`deploy failed (${res.code}): ${res.stderr}`);
      const { deployment, artifact, digest, size_bytes: size } = JSON.parse(res.stdout) as { deployment: { id: string; url: string }; artifact: string; digest: string; size_bytes: number };
      await waitAnswer(deployment.url, `v${run}`);
      const total = performance.now() - t0;
      const cli = { ...cliMarks(res.stderr), exited: res.exitedMs };
      const events = await plane.caller('reader').deployments.events({ id: deployment.id });
      const phases = Object.fromEntries(events.filter((e) => e.duration_ms !== null).map((e) => [e.phase, e.duration_ms!]));

      // --- the raw work on the same bytes
      const p0 = performance.now();
      const packed = await packProject(project, { out: path.join(work, 'raw/'), compressionLevel: 6 }, silent);
      const pack = performance.now() - p0;
      if (packed.digest !== digest) throw new Error('raw pack differs from the CLI pack');

      // Same bytes to another app: the store has not got them there, so the PUT is a real one.
      const presigned = await plane.caller('deployer').artifacts.presign({ app_name: 'bench-raw', digest, size_bytes: size });
      const body = await readFile(artifact);
      const u0 = performance.now();
      const put = await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body });
      const upload = performance.now() - u0;
      if (!put.ok) throw new Error(`raw PUT failed: ${put.status}`);

      const target = path.join(work, `raw-unpacked-${run}`);
      const x0 = performance.now();
      await safeExtract(createReadStream(artifact), target);
      const unpack = performance.now() - x0;

      const port = await freePort();
      const s0 = performance.now();
      const app = spawn('npm', ['start'], { cwd: target, env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), PORT: String(port), npm_config_update_notifier: 'false' } as unknown as NodeJS.ProcessEnv, stdio: 'ignore', detached: true });
      await waitAnswer(`http://127.0.0.1:${port}/`, `v${run}`);
      const start = performance.now() - s0;
      process.kill(-app.pid!, 'SIGKILL');

      if (run === 0) continue; // warm-up: the plane's first requests pay for JIT and pools
      nodeStarts.push(await nodeStartMs());
      samples.push({ total, cli, pack, upload, unpack, start, phases });
      if (process.env.BENCH_VERBOSE) console.error(res.stderr);
      console.error(`run ${run}: total ${total.toFixed(0)} ms, raw ${(pack + upload + unpack + start).toFixed(0)} ms`);
    }
  } finally {
    await workers.stop();
    await plane.close();
    await rm(work, { recursive: true, force: true });
  }
  report(samples, median(nodeStarts));
}

function report(samples: Sample[], nodeStart: number): void {
  const m = (f: (s: Sample) => number) => median(samples.map(f));
  const raw = (s: Sample) => s.pack + s.upload + s.unpack + s.start;
  const overhead = m((s) => s.total - raw(s));
  console.log(`deploy bench (local runtime): medians of ${samples.length} runs, ms; load average ${os.loadavg()[0]!.toFixed(1)}, \`node -e 0\` ${nodeStart.toFixed(0)} ms (75 on an idle 2-core box)`);
  console.log(`  CLI start -> app answering   ${m((s) => s.total).toFixed(0).padStart(6)}`);
  console.log(`  raw work                     ${m(raw).toFixed(0).padStart(6)}`);
  for (const k of ['pack', 'upload', 'unpack', 'start'] as const) console.log(`    ${k.padEnd(26)} ${m((s) => s[k]).toFixed(0).padStart(6)}`);
  console.log(`  overhead                     ${overhead.toFixed(0).padStart(6)}   (target <= ${TARGET_MS})${overhead <= TARGET_MS ? '' : '  OVER TARGET'}`);
  console.log('  CLI timeline (printed at, after spawn):');
  for (const k of [...CLI_STEPS.map(([n]) => n), 'exited']) console.log(`    ${k.padEnd(26)} ${m((s) => s.cli[k] ?? NaN).toFixed(0).padStart(6)}`);
  console.log('  rollout events (control plane side, for where the time goes):');
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.phases)))];
  for (const n of names) console.log(`    ${n.padEnd(26)} ${m((s) => s.phases[n] ?? 0).toFixed(0).padStart(6)}`);
}

await main();
// Pools and sockets are closed; leftover timers (BullMQ) must not keep us alive.
process.exit(0);
