import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { graphFromInstalled } from './installed.js';
import { graphFromPackageLock } from './npm-lock.js';
import type { DependencyGraph, Lockfile, SbomInput } from './types.js';
import { graphFromYarnLock } from './yarn-lock.js';

/**
 * Lockfiles in the order we trust them. The deploy installs with npm, so an npm lockfile is what
 * `npm ci` followed; npm-shrinkwrap.json wins over package-lock.json as it does for npm.
 */
const LOCKFILES: ReadonlyArray<Pick<Lockfile, 'kind' | 'file'>> = [
  { kind: 'npm', file: 'npm-shrinkwrap.json' },
  { kind: 'npm', file: 'package-lock.json' },
  { kind: 'yarn', file: 'yarn.lock' },
  { kind: 'pnpm', file: 'pnpm-lock.yaml' },
];

/** The first lockfile found in the project root, or null. */
export async function readLockfile(root: string): Promise<Lockfile | null> {
  for (const candidate of LOCKFILES) {
    try {
      return { ...candidate, text: await readFile(join(root, candidate.file), 'utf8') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return null;
}

/**
 * The project's production dependency graph: from the lockfile when we can read it, otherwise
 * (no lockfile, pnpm, yarn 2+, a lockfile that does not parse) from the packages installed in
 * the artifact, with a warning saying why precision was lost.
 */
export async function resolveDependencyGraph(input: SbomInput): Promise<DependencyGraph> {
  const lockfile = input.lockfile === undefined ? await readLockfile(input.root) : input.lockfile;
  const fallback = (why?: string) => {
    if (why) input.warn?.(`${why}; the SBOM lists the installed node_modules instead (no integrity hashes)`);
    return graphFromInstalled(input.installRoot ?? input.root, input.manifest, input.packageJson);
  };
  if (!lockfile) return fallback();
  if (lockfile.kind === 'pnpm') return fallback(`${lockfile.file} is not read (the CLI has no YAML parser)`);
  try {
    if (lockfile.kind === 'yarn') return graphFromYarnLock(lockfile.text, input.packageJson, input.warn);
    const shipped = new Set(input.manifest.files.map((file) => file.path));
    return graphFromPackageLock(lockfile.text, {
      source: lockfile.file === 'npm-shrinkwrap.json' ? 'npm-shrinkwrap.json' : 'package-lock.json',
      packageJson: input.packageJson,
      shipsPackageAt: (dir) => shipped.has(`${dir}/package.json`),
    });
  } catch (err) {
    return fallback(`cannot read ${lockfile.file}: ${(err as Error).message}`);
  }
}
