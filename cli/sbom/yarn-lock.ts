import { addPackage, depNames, emptyGraph, integrityToHashes, vcsUrlOf } from './graph.js';
import type { DependencyGraph, HashAlg, PackageJson } from './types.js';

/** One block of a yarn v1 lockfile; every specifier (`name@range`) of its header points at it. */
export interface YarnLockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
}

/** Thrown for lockfiles this parser does not read (yarn 2+ "berry" YAML, or malformed input). */
export class UnsupportedLockfileError extends Error {}

/**
 * Parses a yarn v1 lockfile into specifier -> entry. The format is yarn's own indentation
 * language, not YAML: header lines `"a@^1", a@~1.2:` at column 0, fields `key value` at two
 * spaces, and `dependencies:` / `optionalDependencies:` maps of `name range` at four; keys and
 * values are JSON-quoted when they need to be.
 */
export function parseYarnLockV1(text: string): Map<string, YarnLockEntry> {
  if (/^__metadata:/m.test(text)) throw new UnsupportedLockfileError('yarn.lock is a yarn 2+ lockfile (YAML), not yarn v1');
  const entries = new Map<string, YarnLockEntry>();
  let entry: YarnLockEntry | undefined;
  // The map being read at indent 4; null for one we skip (peerDependenciesMeta, ...), whatever
  // its nesting.
  let section: Record<string, string> | null | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trimEnd();
    if (!line.trim() || line.trimStart().startsWith('#')) continue;
    const indent = line.length - line.trimStart().length;
    const fail = (why: string) => new UnsupportedLockfileError(`yarn.lock line ${i + 1}: ${why}`);
    if (indent === 0) {
      if (!line.endsWith(':')) throw fail('expected "<specifier>[, <specifier>]:"');
      entry = { dependencies: {}, optionalDependencies: {} };
      section = undefined;
      for (const specifier of splitSpecifiers(line.slice(0, -1), fail)) entries.set(specifier, entry);
    } else if (indent === 2 && entry) {
      const [key, value] = keyValue(line.slice(2), fail);
      section = undefined;
      if (value === undefined) {
        section = key === 'dependencies' || key === 'optionalDependencies' ? entry[key] : null;
      } else if (key === 'version' || key === 'resolved' || key === 'integrity') {
        entry[key] = value;
      }
    } else if (indent >= 4 && section === null) {
      continue;
    } else if (indent === 4 && section) {
      const [name, range] = keyValue(line.slice(4), fail);
      if (range === undefined) throw fail('expected "<name> <range>"');
      section[name] = range;
    } else {
      throw fail(`unexpected indentation ${indent}`);
    }
  }
  return entries;
}

/**
 * The production graph of a yarn v1 lockfile. yarn.lock has no dev flag, so production is what
 * package.json's dependencies and optionalDependencies reach, walked through the lockfile's
 * `name@range` specifiers. Optional packages are listed whether or not they were installed.
 */
export function graphFromYarnLock(text: string, packageJson: PackageJson, warn?: (msg: string) => void): DependencyGraph {
  const entries = parseYarnLockV1(text);
  const graph = emptyGraph('yarn.lock');
  const purlBySpecifier = new Map<string, string>();
  const missing: string[] = [];
  const queue: Array<{ specifier: string; entry: YarnLockEntry }> = [];

  const nodeFor = (name: string, range: string): string | undefined => {
    const specifier = `${name}@${range}`;
    const known = purlBySpecifier.get(specifier);
    if (known) return known;
    const entry = entries.get(specifier);
    if (!entry) {
      missing.push(specifier);
      return undefined;
    }
    const purl = addPackage(graph, {
      name: aliasTarget(name, range),
      version: entry.version ?? '',
      hashes: hashesOf(entry),
      vcsUrl: vcsUrlOf(entry.resolved),
    });
    purlBySpecifier.set(specifier, purl);
    queue.push({ specifier, entry });
    return purl;
  };
  const edges = (deps: Record<string, unknown> | unknown) =>
    depNames(deps).flatMap((name) => {
      const range = (deps as Record<string, unknown>)[name];
      const purl = typeof range === 'string' ? nodeFor(name, range) : undefined;
      return purl ? [purl] : [];
    });

  for (const purl of [...edges(packageJson.dependencies), ...edges(packageJson.optionalDependencies)]) graph.direct.add(purl);
  for (let next = 0; next < queue.length; next++) {
    const { specifier, entry } = queue[next]!;
    const purl = purlBySpecifier.get(specifier)!;
    for (const dep of [...edges(entry.dependencies), ...edges(entry.optionalDependencies)]) {
      if (dep !== purl) graph.packages.get(purl)!.dependsOn.add(dep);
    }
  }
  if (missing.length) warn?.(`yarn.lock has no entry for ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}: left out of the SBOM`);
  return graph;
}

/** `integrity` when present; old lockfiles only have the tarball's sha1 after `#` in `resolved`. */
function hashesOf(entry: YarnLockEntry): Array<[HashAlg, string]> {
  const hashes = integrityToHashes(entry.integrity);
  if (hashes.length || !entry.resolved || vcsUrlOf(entry.resolved)) return hashes;
  const sha1 = /^https?:\/\/[^#]+\.tgz#([0-9a-f]{40})$/.exec(entry.resolved)?.[1];
  return sha1 ? [['SHA-1', sha1]] : [];
}

/** The real package behind `alias@npm:real@^1`; the name itself otherwise. */
function aliasTarget(name: string, range: string): string {
  if (!range.startsWith('npm:')) return name;
  const spec = range.slice(4);
  const at = spec.indexOf('@', 1);
  return at > 0 ? spec.slice(0, at) : spec;
}

/** Splits a header (`"@a/b@^1", c@~2`) into its specifiers. */
function splitSpecifiers(header: string, fail: (why: string) => Error): string[] {
  const specifiers: string[] = [];
  let rest = header.trim();
  while (rest) {
    const [token, after] = readToken(rest, fail);
    specifiers.push(token);
    rest = after.trimStart();
    if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
    else if (rest) throw fail('expected "," between specifiers');
  }
  return specifiers;
}

/** `key value` or `key:` (value undefined); either part may be JSON-quoted. */
function keyValue(text: string, fail: (why: string) => Error): [string, string | undefined] {
  const [key, after] = readToken(text, fail, true);
  const rest = after.trim();
  if (rest === ':') return [key, undefined];
  if (!rest) throw fail(`no value for "${key}"`);
  return [key, rest.startsWith('"') ? readToken(rest, fail)[0] : rest];
}

/** One quoted or bare token and the text after it; a bare key stops at a space or `:`. */
function readToken(text: string, fail: (why: string) => Error, isKey = false): [string, string] {
  if (text.startsWith('"')) {
    const m = /^"(?:[^"\\]|\\.)*"/.exec(text);
    if (!m) throw fail('unterminated string');
    return [JSON.parse(m[0]) as string, text.slice(m[0].length)];
  }
  const m = isKey ? /^[^\s:]+/.exec(text) : /^[^\s,]+/.exec(text);
  if (!m) throw fail('expected a name');
  return [m[0], text.slice(m[0].length)];
}
