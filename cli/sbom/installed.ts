import { readFile, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Manifest } from '../pack/manifest.js';
import { addPackage, depNames, emptyGraph, str } from './graph.js';
import type { DependencyGraph, PackageJson } from './types.js';

/**
 * The dependency graph of the packages the artifact actually holds, for projects whose lockfile
 * we cannot read (none, pnpm, yarn 2+): every `node_modules/<name>/package.json` (also nested,
 * scoped, and pnpm's `node_modules/.pnpm/<id>/node_modules/<name>`) listed in the manifest.
 * Versions are the installed ones; there are no integrity hashes. Whatever is installed ships,
 * so dev dependencies appear too if they were installed.
 *
 * Edges follow Node's resolution from each package's directory; pnpm's layout resolves through
 * symlinks (not in the manifest), which are followed on disk.
 */
export async function graphFromInstalled(root: string, manifest: Pick<Manifest, 'files'>, packageJson: PackageJson): Promise<DependencyGraph> {
  const graph = emptyGraph('node_modules');
  const purlByDir = new Map<string, string>();
  const depsByDir = new Map<string, string[]>();
  const dirs = manifest.files.flatMap((file) => installedPackageDir(file.path) ?? []);
  const manifests = await Promise.all(dirs.map((dir) => readPackageJson(join(root, dir, 'package.json'))));
  // The manifest is sorted by path, so the first copy of a duplicated name@version is stable.
  for (const [i, dir] of dirs.entries()) {
    const pkg = manifests[i];
    const name = str(pkg?.name);
    if (!pkg || !name) continue;
    purlByDir.set(dir, addPackage(graph, { name, version: str(pkg.version) ?? '', hashes: [] }));
    depsByDir.set(dir, [...depNames(pkg.dependencies), ...depNames(pkg.optionalDependencies), ...depNames(pkg.peerDependencies)]);
  }

  const resolver = createResolver(root, purlByDir);
  for (const [dir, deps] of depsByDir) {
    const node = graph.packages.get(purlByDir.get(dir)!)!;
    for (const dep of deps) {
      const purl = await resolver(dir, dep);
      if (purl && node !== graph.packages.get(purl)) node.dependsOn.add(purl);
    }
  }
  for (const dep of [...depNames(packageJson.dependencies), ...depNames(packageJson.optionalDependencies)]) {
    const purl = await resolver('', dep);
    if (purl) graph.direct.add(purl);
  }
  return graph;
}

async function readPackageJson(file: string): Promise<PackageJson | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as PackageJson) : null;
  } catch {
    return null; // unreadable or not JSON: not a package we can name
  }
}

/**
 * The package directory when `path` is the package.json of an installed package, else null.
 * Installed means `<container>/node_modules/<name>` (or `@scope/<name>`) where the container is
 * the project (or a folder of it outside any node_modules), another installed package, or a
 * pnpm store entry `node_modules/.pnpm/<id>`. That leaves out package.json files that packages
 * ship inside themselves (test fixtures, `dist/package.json`).
 */
export function installedPackageDir(path: string): string | null {
  if (!path.endsWith('/package.json')) return null;
  const dir = path.slice(0, -'/package.json'.length);
  return isInstallDir(dir.split('/')) ? dir : null;
}

function isInstallDir(segments: string[]): boolean {
  const at = segments.lastIndexOf('node_modules');
  if (at < 0) return false;
  const name = segments.slice(at + 1);
  const valid =
    (name.length === 1 && !name[0]!.startsWith('.') && !name[0]!.startsWith('@')) ||
    (name.length === 2 && name[0]!.startsWith('@') && name[0]!.length > 1 && !name[1]!.startsWith('.'));
  return valid && isContainer(segments.slice(0, at));
}

function isContainer(segments: string[]): boolean {
  if (!segments.includes('node_modules')) return true;
  const n = segments.length;
  if (n >= 3 && segments[n - 3] === 'node_modules' && segments[n - 2] === '.pnpm') return isContainer(segments.slice(0, n - 3));
  return isInstallDir(segments);
}

/**
 * Node's resolution over the installed set: `<dir>/node_modules/<name>`, then each parent's.
 * A candidate that is not a known package directory may be a symlink (pnpm, workspaces): its
 * real path is looked up on disk, once per candidate.
 */
function createResolver(root: string, purlByDir: Map<string, string>): (fromDir: string, name: string) => Promise<string | undefined> {
  const realRoot = realpath(root).catch(() => root);
  const viaDisk = new Map<string, Promise<string | undefined>>();
  const lookUpOnDisk = (candidate: string) => {
    let found = viaDisk.get(candidate);
    if (!found) {
      found = Promise.all([realRoot, realpath(join(root, candidate))])
        .then(([base, real]) => purlByDir.get(relative(base, real).split(sep).join('/')))
        .catch(() => undefined);
      viaDisk.set(candidate, found);
    }
    return found;
  };
  return async (fromDir, name) => {
    let dir = fromDir;
    for (;;) {
      const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
      const purl = purlByDir.get(candidate) ?? (await lookUpOnDisk(candidate));
      if (purl) return purl;
      if (!dir) return undefined;
      const slash = dir.lastIndexOf('/');
      dir = slash < 0 ? '' : dir.slice(0, slash);
    }
  };
}
