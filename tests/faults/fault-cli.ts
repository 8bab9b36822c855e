import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, type CliRun } from '../support/control-plane-process';
import { TOKENS } from '../support/harness';

export const MiB = 1024 * 1024;

/** Multipart from 5 MiB, in 5 MiB parts (S3's smallest), one at a time: parts finish in order. */
export const MULTIPART_ENV = {
  AETHER_MULTIPART_THRESHOLD_BYTES: String(5 * MiB),
  AETHER_MULTIPART_PART_SIZE_BYTES: String(5 * MiB),
  AETHER_UPLOAD_CONCURRENCY: '1',
};

/** A user's machine: a project dir and the CLI's own config, state and cache (the upload resume state). */
export interface CliHome {
  dir: string;
  project: string;
  env: Record<string, string>;
  /** The multipart resume state files (cache/aether/uploads). */
  uploadStates(): Promise<Array<{ upload_id: string; parts: Record<string, string> }>>;
  close(): Promise<void>;
}

/**
 * A dependency-free Node.js app (deployed with --no-install): `blobBytes` of incompressible bytes
 * set the artifact's size; `listenAfterMs` keeps the rollout in its start/health phase that long.
 */
export async function makeCliHome(
  apiBase: string,
  app: { name: string; blobBytes?: number; listenAfterMs?: number },
): Promise<CliHome> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aether-fault-cli-'));
  const project = path.join(dir, app.name);
  await mkdir(project);
  await writeFile(
    path.join(project, 'package.json'),
    JSON.stringify({ name: app.name, version: '1.0.0', private: true, scripts: { start: 'node index.js' } }),
  );
  await writeFile(
    path.join(project, 'index.js'),
    `const http = require('node:http');
setTimeout(() => {
  http.createServer((req, res) => res.end('ok\\n')).listen(Number(process.env.PORT), '127.0.0.1');
}, ${app.listenAfterMs ?? 0});
`,
  );
  if (app.blobBytes) await writeFile(path.join(project, 'blob.bin'), randomBytes(app.blobBytes));
  const states = path.join(dir, 'cache', 'aether', 'uploads');
  return {
    dir,
    project,
    env: {
      HOME: dir,
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      XDG_STATE_HOME: path.join(dir, 'state'),
      XDG_CACHE_HOME: path.join(dir, 'cache'),
      AETHER_API_BASE: apiBase,
      AETHER_TOKEN: TOKENS.deployer,
    },
    async uploadStates() {
      const files = (await readdir(states).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
      const out = [];
      for (const f of files) {
        // The CLI renames a complete file into place: a read sees the old state or the new one.
        out.push(
          JSON.parse(await readFile(path.join(states, f), 'utf8')) as {
            upload_id: string;
            parts: Record<string, string>;
          },
        );
      }
      return out;
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A CLI run whose output can be watched while it runs. */
export interface LiveCli {
  stdout(): string;
  stderr(): string;
  done: Promise<CliRun>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs the bundled CLI in `home.project` with `home.env` and `extra` on top of a clean base. */
export function startCli(home: CliHome, args: string[], extra: Record<string, string> = {}): LiveCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: home.project,
    env: { PATH: process.env.PATH ?? '', ...home.env, ...extra } as unknown as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { stdout: () => stdout, stderr: () => stderr, done, kill: (signal = 'SIGKILL') => void child.kill(signal) };
}

/** Polls `check` every 50 ms until it returns true; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits for the CLI to print `line` (its waiting line), then lifts the fault with `restore`, which
 * runs whatever happens: a wait that failed must not leave the fault on for the next test. On a
 * timeout the CLI is killed and the error carries its output.
 */
export async function restoreOnceSaid(
  cli: LiveCli,
  line: RegExp,
  timeoutMs: number,
  restore: () => void,
): Promise<void> {
  try {
    await waitFor(`the CLI to print ${line}`, () => line.test(cli.stderr()), timeoutMs);
  } catch (err) {
    cli.kill();
    throw new Error(`${(err as Error).message}; its output so far:\n${cli.stderr()}`);
  } finally {
    restore();
  }
}

/** What `aether deploy --format json` prints. */
export interface DeployJson {
  digest: string;
  deployment: { id: string; status: string; url: string | null };
}
