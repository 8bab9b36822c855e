import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
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
  return path.join(env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache'), 'aether', 'installs');
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

/** Files besides package.json and the lockfile that change what a package manager installs. */
const INSTALL_CONFIG_FILES = ['.npmrc', '.yarnrc', '.yarnrc.yml', '.pnpmfile.cjs', 'pnpm-workspace.yaml'];

/** Root lifecycle scripts a package manager runs on install; they may read any file of the project. */
const ROOT_INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare'];

/** Dependency specs that point into the project (relative paths, workspaces). */
const LOCAL_SPEC_RE = /^(?:file|link|portal|workspace):/;

/**
 * Why the install has to run in the project itself rather than beside it, or null when it can
 * run in a staging directory that holds only the files an install reads: workspaces, local
 * path dependencies and root install scripts all reach for files outside that set.
 */
export function inPlaceReason(packageJson: Record<string, unknown>): string | null {
  if (packageJson.workspaces) return 'the project uses workspaces';
  for (const field of ['dependencies', 'optionalDependencies']) {
    const deps = packageJson[field];
    if (!deps || typeof deps !== 'object') continue;
    const local = Object.entries(deps).find(([, spec]) => typeof spec === 'string' && LOCAL_SPEC_RE.test(spec));
    if (local) return `dependency ${local[0]} points into the project (${String(local[1])})`;
  }
  const scripts = packageJson.scripts;
  if (scripts && typeof scripts === 'object') {
    const script = ROOT_INSTALL_SCRIPTS.find((name) => name in scripts);
    if (script) return `package.json has a "${script}" script`;
  }
  return null;
}

/** Where production dependencies were installed: `<root>/node_modules` is what ships. */
export interface InstalledDeps {
  root: string;
  /** Removes a temporary install (no lockfile or --no-cache); a no-op otherwise. */
  dispose(): Promise<void>;
}

interface InstallOptions {
  quiet: boolean;
  cache: boolean;
  env: { XDG_CACHE_HOME?: string; HOME?: string };
  out: Output;
}

/**
 * Production dependencies as the artifact will run them, installed beside the project so its own
 * node_modules (dev dependencies included) is left as it was. The install runs in a staging
 * directory holding package.json, the lockfile and the package manager's config; with a lockfile
 * it is kept in `~/.cache/aether/installs/<key>` (key: lockfile bytes, manager, Node version,
 * platform), so a redeploy of the same lockfile installs nothing and copies nothing.
 *
 * Projects whose install reads other files (see inPlaceReason) install in place, as `npm ci
 * --omit=dev` would: their node_modules then holds production dependencies only.
 */
export async function installProductionDeps(root: string, opts: InstallOptions): Promise<InstalledDeps> {
  const { pm, lockfile } = detectPackageManager(root);
  const packageJson = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const reason = inPlaceReason(packageJson);
  if (reason) {
    opts.out.warn(`installing production dependencies in the project itself (${reason}): its node_modules loses dev dependencies`);
    await run(pm, installCommand(pm, lockfile), root, opts.quiet);
    return { root, dispose: async () => {} };
  }

  const key = opts.cache ? await cacheKey(root, pm, lockfile) : null;
  const cached = key ? path.join(cacheDir(opts.env), key) : null;
  if (cached && existsSync(path.join(cached, MARKER))) {
    opts.out.info(`production dependencies from the cache (${pm}, ${key!.slice(0, 12)})`);
    return { root: cached, dispose: async () => {} };
  }

  const stage = cached ? `${cached}.${process.pid}.tmp` : await mkdtemp(path.join(os.tmpdir(), 'aether-install-'));
  try {
    await rm(stage, { recursive: true, force: true });
    await mkdir(stage, { recursive: true });
    for (const file of ['package.json', ...(lockfile ? [lockfile] : []), ...INSTALL_CONFIG_FILES]) {
      await copyFile(path.join(root, file), path.join(stage, file)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    opts.out.info(`installing production dependencies with ${pm}`);
    await run(pm, installCommand(pm, lockfile), stage, opts.quiet);
    await mkdir(path.join(stage, 'node_modules'), { recursive: true });
    if (!cached) return { root: stage, dispose: () => rm(stage, { recursive: true, force: true }) };
    // Marked complete, then renamed into place: a killed install never becomes a cache entry.
    await writeFile(path.join(stage, MARKER), `${key}\n`);
    await rename(stage, cached).catch(async (err: NodeJS.ErrnoException) => {
      // Another deploy of the same lockfile finished first; its entry is as good as ours.
      if (!existsSync(path.join(cached, MARKER))) throw err;
      await rm(stage, { recursive: true, force: true });
    });
    return { root: cached, dispose: async () => {} };
  } catch (err) {
    await rm(stage, { recursive: true, force: true });
    throw err;
  }
}
