import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './errors';
import type { Output } from './output';

export type PackageManager = 'npm' | 'pnpm' | 'yarn';

const LOCKFILES: Array<[string, PackageManager]> = [
  ['pnpm-lock.yaml', 'pnpm'],
  ['yarn.lock', 'yarn'],
  ['npm-shrinkwrap.json', 'npm'],
  ['package-lock.json', 'npm'],
];

/** The package manager the lockfile names (first match: pnpm, yarn, npm); npm without one. */
export function detectPackageManager(root: string): { pm: PackageManager; lockfile: string | null } {
  for (const [file, pm] of LOCKFILES) if (existsSync(path.join(root, file))) return { pm, lockfile: file };
  return { pm: 'npm', lockfile: null };
}

/**
 * The production install each manager does reproducibly from its lockfile. Without a lockfile
 * npm installs without writing one, so the user's project is not handed a file it did not ask for.
 */
export function installCommand(pm: PackageManager, lockfile: string | null): string[] {
  if (pm === 'pnpm') return ['install', '--prod', '--frozen-lockfile'];
  if (pm === 'yarn') return ['install', '--production', '--frozen-lockfile', '--non-interactive'];
  return lockfile ? ['ci', '--omit=dev', '--no-audit', '--no-fund'] : ['install', '--omit=dev', '--no-package-lock', '--no-audit', '--no-fund'];
}

const MARKER = '.aether-install-key';

/** Lockfile bytes + manager + Node version + platform: what decides the installed tree. */
async function cacheKey(root: string, pm: PackageManager, lockfile: string | null): Promise<string | null> {
  if (!lockfile) return null;
  const hash = createHash('sha256');
  hash.update(await readFile(path.join(root, lockfile)));
  hash.update(`\0${pm}\0${process.env.NODE_VERSION ?? process.version}\0${process.platform}-${process.arch}`);
  return hash.digest('hex').slice(0, 32);
}

function cacheDir(env: { XDG_CACHE_HOME?: string; HOME?: string }): string {
  return path.join(env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache'), 'aether', 'node_modules');
}

async function run(pm: PackageManager, args: string[], root: string, quiet: boolean): Promise<void> {
  if (spawnSync(pm, ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new CliError(EXIT.runtime, `${pm} is not installed, but the project's lockfile is for ${pm}`, `install ${pm}, or remove the lockfile`);
  }
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(pm, args, { cwd: root, stdio: ['ignore', quiet ? 'ignore' : process.stderr, process.stderr] });
    child.once('error', (err) => reject(new CliError(EXIT.runtime, `cannot run ${pm}: ${err.message}`)));
    child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  if (code !== 0) throw new CliError(EXIT.runtime, `${pm} ${args[0]} failed with exit code ${code}`);
}

/**
 * Production dependencies into `node_modules`, as the artifact will run them. Cached by lockfile,
 * manager and Node version: a tree already installed for the same key is used as it is, and a
 * fresh checkout restores a copy from `~/.cache/aether/node_modules/<key>` instead of installing.
 * Note: like `npm ci --omit=dev`, this replaces the project's node_modules (dev deps go).
 */
export async function installProductionDeps(root: string, opts: { quiet: boolean; cache: boolean; env: { XDG_CACHE_HOME?: string; HOME?: string }; out: Output }): Promise<void> {
  const { pm, lockfile } = detectPackageManager(root);
  const key = opts.cache ? await cacheKey(root, pm, lockfile) : null;
  const modules = path.join(root, 'node_modules');
  if (key) {
    const current = await readFile(path.join(modules, MARKER), 'utf8').catch(() => '');
    if (current.trim() === key) {
      opts.out.info(`production dependencies up to date (${pm}, cache key ${key.slice(0, 12)})`);
      return;
    }
    const cached = path.join(cacheDir(opts.env), key);
    if (existsSync(path.join(cached, MARKER))) {
      await rm(modules, { recursive: true, force: true });
      await cp(cached, modules, { recursive: true, verbatimSymlinks: true });
      opts.out.info(`restored production dependencies from the cache (${key.slice(0, 12)})`);
      return;
    }
  }
  opts.out.info(`installing production dependencies with ${pm}`);
  await run(pm, installCommand(pm, lockfile), root, opts.quiet);
  if (!key) return;
  await mkdir(modules, { recursive: true });
  await writeFile(path.join(modules, MARKER), `${key}\n`);
  // Saved through a temp dir and a rename, so a half-copied cache entry is never used.
  const cached = path.join(cacheDir(opts.env), key);
  const temp = `${cached}.${process.pid}.tmp`;
  try {
    await mkdir(path.dirname(cached), { recursive: true });
    await cp(modules, temp, { recursive: true, verbatimSymlinks: true });
    await rename(temp, cached);
  } catch {
    await rm(temp, { recursive: true, force: true });
  }
}
