import { sortEntries } from '../pack/collect.js';
import { addPackage, depNames, emptyGraph, integrityToHashes, str, vcsUrlOf } from './graph.js';
import type { DependencyGraph, PackageJson } from './types.js';

/** An entry of package-lock.json's `packages` map (lockfile v2/v3), keyed by install path. */
interface LockEntry {
  name?: unknown;
  version?: unknown;
  resolved?: unknown;
  integrity?: unknown;
  dev?: unknown;
  optional?: unknown;
  devOptional?: unknown;
  link?: unknown;
  dependencies?: unknown;
  optionalDependencies?: unknown;
  peerDependencies?: unknown;
}

type Packages = Map<string, LockEntry>;

export interface NpmLockOptions {
  source: 'package-lock.json' | 'npm-shrinkwrap.json';
  packageJson: PackageJson;
  /** Whether `<dir>/package.json` is in the artifact: decides for optional packages. */
  shipsPackageAt: (dir: string) => boolean;
}

/**
 * The production dependency graph of an npm lockfile: what `npm ci --omit=dev` installs.
 *
 * - `dev: true` entries are left out (that is exactly the set --omit=dev removes).
 * - `optional`/`devOptional` entries are listed only if the artifact holds their package.json:
 *   npm skips optional packages whose os/cpu/engines do not match, so the lockfile alone cannot
 *   say whether they shipped.
 * - Edges follow Node's resolution over the lockfile's install paths (nearest `node_modules`
 *   upwards), and `link` entries (workspaces, `file:` folders) are followed to their target.
 *
 * Reads the `packages` map of lockfile v2/v3; a v1 lockfile (npm 5/6) is converted from its
 * nested `dependencies` tree first. Throws on anything else.
 */
export function graphFromPackageLock(text: string, opts: NpmLockOptions): DependencyGraph {
  const lock = JSON.parse(text) as { packages?: unknown; dependencies?: unknown };
  let packages: Packages;
  if (isRecord(lock.packages)) packages = new Map(Object.entries(lock.packages).filter((kv): kv is [string, LockEntry] => isRecord(kv[1])));
  else if (isRecord(lock.dependencies)) packages = packagesFromV1(lock.dependencies, opts.packageJson);
  else throw new Error(`${opts.source} has neither "packages" nor "dependencies"`);
  const root: LockEntry = packages.get('') ?? { dependencies: opts.packageJson.dependencies, optionalDependencies: opts.packageJson.optionalDependencies };

  const graph = emptyGraph(opts.source);
  const purlByKey = new Map<string, string | null>();

  /** The purl of the package installed at `key`, or null when it is not shipped. */
  const nodeAt = (key: string): string | null => {
    const memo = purlByKey.get(key);
    if (memo !== undefined) return memo;
    purlByKey.set(key, null);
    const entry = packages.get(key);
    let purl: string | null = null;
    if (entry && entry.dev !== true && (!(entry.optional === true || entry.devOptional === true) || opts.shipsPackageAt(key))) {
      const targetKey = followLinks(packages, key);
      const target = targetKey === undefined ? undefined : packages.get(targetKey);
      if (target && targetKey) {
        purl = addPackage(graph, {
          name: str(target.name) ?? nameFromKey(targetKey),
          version: str(target.version) ?? '',
          hashes: integrityToHashes(target.integrity),
          vcsUrl: vcsUrlOf(target.resolved),
        });
      }
    }
    purlByKey.set(key, purl);
    return purl;
  };

  // Byte order of install paths, so the first path met for a duplicated name@version (whose
  // hashes win) is the same on every machine.
  for (const { path: key } of sortEntries(Array.from(packages.keys(), (path) => ({ path })))) {
    if (key === '') continue;
    const purl = nodeAt(key);
    const fromKey = followLinks(packages, key);
    if (!purl || fromKey === undefined) continue;
    const from = packages.get(fromKey)!;
    for (const dep of [...depNames(from.dependencies), ...depNames(from.optionalDependencies), ...depNames(from.peerDependencies)]) {
      const depKey = resolveInstallPath(packages, fromKey, dep);
      const depPurl = depKey === undefined ? null : nodeAt(depKey);
      if (depPurl && depPurl !== purl) graph.packages.get(purl)!.dependsOn.add(depPurl);
    }
  }
  for (const dep of [...depNames(root.dependencies), ...depNames(root.optionalDependencies)]) {
    const depKey = resolveInstallPath(packages, '', dep);
    const depPurl = depKey === undefined ? null : nodeAt(depKey);
    if (depPurl) graph.direct.add(depPurl);
  }
  return graph;
}

/** Where Node finds `name` from the package at `fromKey`: the nearest `node_modules` upwards. */
function resolveInstallPath(packages: Packages, fromKey: string, name: string): string | undefined {
  let dir = fromKey;
  for (;;) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (packages.has(candidate)) return candidate;
    if (!dir) return undefined;
    const slash = dir.lastIndexOf('/');
    dir = slash < 0 ? '' : dir.slice(0, slash);
  }
}

/** Follows `link: true` entries (whose `resolved` is the target's key); undefined on a cycle. */
function followLinks(packages: Packages, key: string): string | undefined {
  let current = key;
  for (let hops = 0; hops < 16; hops++) {
    const entry = packages.get(current);
    const target = entry?.link === true ? str(entry.resolved) : undefined;
    if (target === undefined) return current;
    current = target;
  }
  return undefined;
}

/** `node_modules/a/node_modules/@s/b` -> `@s/b`; a folder key (`packages/b`) -> `b`. */
function nameFromKey(key: string): string {
  const at = key.lastIndexOf('node_modules/');
  return at >= 0 ? key.slice(at + 'node_modules/'.length) : key.slice(key.lastIndexOf('/') + 1);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface V1Dependency {
  version?: unknown;
  resolved?: unknown;
  integrity?: unknown;
  dev?: unknown;
  optional?: unknown;
  requires?: unknown;
  dependencies?: unknown;
}

/**
 * Lockfile v1 kept a nested tree (`dependencies` with `requires` and nested `dependencies`);
 * flattened here into v2's install-path map. Aliases are spelled `npm:<name>@<version>` and
 * git installs carry the URL as the version.
 */
function packagesFromV1(tree: Record<string, unknown>, packageJson: PackageJson): Packages {
  const packages: Packages = new Map([
    ['', { dependencies: packageJson.dependencies, optionalDependencies: packageJson.optionalDependencies }],
  ]);
  const visit = (deps: Record<string, unknown>, parentKey: string) => {
    for (const [alias, value] of Object.entries(deps)) {
      if (!isRecord(value)) continue;
      const dep = value as V1Dependency;
      const key = parentKey ? `${parentKey}/node_modules/${alias}` : `node_modules/${alias}`;
      let name = alias;
      let version = str(dep.version) ?? '';
      let resolved = str(dep.resolved);
      if (version.startsWith('npm:')) {
        const at = version.lastIndexOf('@');
        if (at > 4) [name, version] = [version.slice(4, at), version.slice(at + 1)];
      } else if (vcsUrlOf(version) || version.startsWith('file:')) {
        resolved ??= version;
        version = '';
      }
      packages.set(key, {
        name,
        version,
        resolved,
        integrity: dep.integrity,
        dev: dep.dev,
        optional: dep.optional,
        dependencies: dep.requires,
      });
      if (isRecord(dep.dependencies)) visit(dep.dependencies, key);
    }
  };
  visit(tree, '');
  return packages;
}
