/**
 * The init container of every Kubernetes app pod (`node /opt/aether/fetch-artifact.mjs`):
 * downloads the deployment's artifact from the control plane with the fetch token, checks its
 * sha256, unpacks it with the control plane's own safe extractor into the emptyDir, and checks
 * there is something to start. The exit code and the termination message say what happened
 * (server/runtime/kubernetes/fetch-protocol.ts); the driver turns them into a rollout reason.
 *
 * Env: AETHER_FETCH_URL, AETHER_FETCH_TOKEN (from a Secret), AETHER_DIGEST, AETHER_APP_DIR,
 * optional AETHER_FETCH_TIMEOUT_SECS (default 600), AETHER_MAX_UNPACKED_BYTES (default: the
 * extractor's 1 GiB), AETHER_TERMINATION_LOG, AETHER_SKIP_START_CHECK (`true` when the release
 * has a start command of its own).
 */
import { createReadStream } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { safeExtract } from '../../../server/runtime/extract';
import {
  encodeTerminationMessage,
  FETCH_EXIT,
  TERMINATION_LOG,
  type FetchOutcome,
  type FetchPhase,
} from '../../../server/runtime/kubernetes/fetch-protocol';
import { RolloutError } from '../../../server/runtime/port';
import { resolveStartCommand } from '../../../server/runtime/start-command';
import { download, FetchFailed } from './download';

class Refusal extends Error {
  constructor(
    readonly outcome: FetchOutcome,
    message: string,
  ) {
    super(message);
  }
}

const env = process.env;
const terminationLog = env.AETHER_TERMINATION_LOG ?? TERMINATION_LOG;

async function main(): Promise<FetchPhase[] | 'reused'> {
  const url = env.AETHER_FETCH_URL ?? '';
  const token = env.AETHER_FETCH_TOKEN ?? '';
  const digest = env.AETHER_DIGEST ?? '';
  const appDir = path.resolve(env.AETHER_APP_DIR ?? '/app/release');
  const timeoutMs = Number(env.AETHER_FETCH_TIMEOUT_SECS ?? 600) * 1000;
  const maxBytes = env.AETHER_MAX_UNPACKED_BYTES ? Number(env.AETHER_MAX_UNPACKED_BYTES) : undefined;
  if (!/^https?:\/\//.test(url) || !token || !/^[0-9a-f]{64}$/.test(digest) || !(timeoutMs > 0) || (maxBytes !== undefined && !(maxBytes > 0))) {
    throw new Refusal('config', 'AETHER_FETCH_URL, AETHER_FETCH_TOKEN and AETHER_DIGEST (64 hex) are required');
  }
  // A restarted pod keeps its emptyDir: what is already unpacked for this digest is reused.
  const marker = path.join(path.dirname(appDir), '.aether-digest');
  if ((await readFile(marker, 'utf8').catch(() => '')) === digest && (await exists(appDir))) return 'reused';
  await rm(marker, { force: true });
  await rm(appDir, { recursive: true, force: true });

  const archive = path.join(path.dirname(appDir), '.artifact.tar.gz');
  const phases: FetchPhase[] = [];
  let t0 = performance.now();
  const done = (phase: FetchPhase['phase'], message: string) => {
    const now = performance.now();
    phases.push({ phase, ms: Math.round(now - t0), message });
    process.stdout.write(`${phase}: ${message} (${Math.round(now - t0)} ms)\n`);
    t0 = now;
  };
  try {
    const got = await download(url, token, archive, timeoutMs).catch((err: unknown) => {
      throw err instanceof FetchFailed ? new Refusal('fetch_failed', err.message) : err;
    });
    done('fetch', `fetched ${got.bytes} bytes`);
    if (got.sha256 !== digest) throw new Refusal('digest_mismatch', `artifact sha256 is ${got.sha256}, expected ${digest}`);
    done('verify', `sha256 ${digest} verified`);
    const unpacked = await safeExtract(createReadStream(archive), appDir, { maxBytes }).catch((err: unknown) => {
      throw err instanceof RolloutError && err.reason === 'archive_refused' ? new Refusal('archive_refused', err.message) : err;
    });
    if (env.AETHER_SKIP_START_CHECK !== 'true') await checkStartCommand(appDir);
    done('unpack', `unpacked ${unpacked.files} files, ${unpacked.bytes} bytes`);
  } finally {
    await rm(archive, { force: true });
  }
  await writeFile(marker, digest);
  return phases;
}

/** What `npm start` will run must exist (the same rule as the local runtime's). */
async function checkStartCommand(dir: string): Promise<void> {
  const start = await resolveStartCommand(dir);
  if ('problem' in start) throw new Refusal('no_start_command', start.problem);
}

const exists = (p: string) => stat(p).then(() => true, () => false);

async function finish(): Promise<number> {
  try {
    const result = await main();
    const phases = result === 'reused' ? [] : result;
    if (result === 'reused') process.stdout.write('artifact already unpacked for this digest\n');
    await writeFile(terminationLog, encodeTerminationMessage({ ok: true, phases })).catch(() => {});
    return FETCH_EXIT.ok;
  } catch (err) {
    const outcome: FetchOutcome = err instanceof Refusal ? err.outcome : 'internal';
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${outcome}: ${message}\n`);
    await writeFile(terminationLog, encodeTerminationMessage({ ok: false, outcome, message })).catch(() => {});
    return FETCH_EXIT[outcome];
  }
}

process.exitCode = await finish();
