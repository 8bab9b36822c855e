import { createHash } from 'node:crypto';
import { sortEntries } from '../pack/collect.js';
import { resolveDependencyGraph } from './dependencies.js';
import { str } from './graph.js';
import { manifestDigest } from './manifest-digest.js';
import { npmPurl, splitScope } from './purl.js';
import type { SbomInput } from './types.js';

/** Media type of the CycloneDX JSON SBOM (what an upload should send as Content-Type). */
export const CYCLONEDX_MEDIA_TYPE = 'application/vnd.cyclonedx+json';

/** The name the root component gets when package.json has none (the seed's fallback app name). */
const UNNAMED_APP = 'default-app';

/**
 * A CycloneDX 1.5 JSON SBOM of the artifact, built and serialized with
 * @cyclonedx/cyclonedx-library (loaded here, on first use: it is ~150 KB the CLI's other paths
 * never need).
 *
 * - Components: every production package from the lockfile (resolveDependencyGraph), with the
 *   resolved version, a purl (`pkg:npm/%40scope/name@1.2.3`, also the bom-ref) and the
 *   lockfile's integrity as hex hashes; transitive packages included.
 * - `dependencies`: the graph, the app depending on its direct production dependencies.
 * - metadata.component: the app (package.json name/version) whose SHA-256 is the manifest
 *   digest; metadata.properties `aether:manifest_digest`, `aether:total_files`,
 *   `aether:total_size`, `aether:dependency_source`.
 *
 * Reproducible: the same inputs give the same bytes. There is no timestamp, the serialNumber is
 * a UUID derived from the manifest digest (see serialNumberFor), and every list is in UTF-8
 * byte order of our choosing (the library's own `sortLists` uses localeCompare, whose order
 * depends on the machine's ICU locale, so it is off and we insert in order instead).
 */
export async function buildCycloneDxSbom(input: SbomInput): Promise<string> {
  const [graph, Models, Enums, Serialize, Spec] = await Promise.all([
    resolveDependencyGraph(input),
    import('@cyclonedx/cyclonedx-library/Models').then(cjsExports),
    import('@cyclonedx/cyclonedx-library/Enums').then(cjsExports),
    import('@cyclonedx/cyclonedx-library/Serialize').then(cjsExports),
    import('@cyclonedx/cyclonedx-library/Spec').then(cjsExports),
  ]);
  const { manifest, packageJson } = input;
  const digest = manifestDigest(manifest);

  const appName = str(packageJson.name) || UNNAMED_APP;
  const appVersion = str(packageJson.version);
  const appScope = splitScope(appName);
  const appPurl = npmPurl(appName, appVersion ?? '');
  const app = new Models.Component(Enums.ComponentType.Application, appScope.bare, {
    group: appScope.scope || undefined,
    version: appVersion,
    // A dependency with the app's own purl would make bom-refs collide (and the library then
    // invents random ones): the app's ref gets a prefix in that case.
    bomRef: graph.packages.has(appPurl) ? `app:${appPurl}` : appPurl,
    purl: str(packageJson.name) ? appPurl : undefined,
    hashes: new Models.HashDictionary([[Enums.HashAlgorithm['SHA-256'], digest]]),
  });

  const components = new Map<string, InstanceType<typeof Models.Component>>();
  for (const { path: purl } of sortEntries(Array.from(graph.packages.keys(), (path) => ({ path })))) {
    const pkg = graph.packages.get(purl)!;
    const { scope, bare } = splitScope(pkg.name);
    components.set(
      purl,
      new Models.Component(Enums.ComponentType.Library, bare, {
        group: scope || undefined,
        version: pkg.version || undefined,
        purl,
        bomRef: purl,
        hashes: new Models.HashDictionary(pkg.hashes.map(([alg, hex]) => [Enums.HashAlgorithm[alg], hex] as const)),
      }),
    );
  }
  const refsOf = (purls: Iterable<string>) =>
    sortEntries(Array.from(purls, (path) => ({ path }))).flatMap(({ path }) => components.get(path)?.bomRef ?? []);
  for (const ref of refsOf(graph.direct)) app.dependencies.add(ref);
  for (const [purl, component] of components) {
    for (const ref of refsOf(graph.packages.get(purl)!.dependsOn)) component.dependencies.add(ref);
  }

  const bom = new Models.Bom({ serialNumber: serialNumberFor(digest) });
  bom.metadata.component = app;
  for (const component of components.values()) bom.components.add(component);
  const properties: Array<[string, string]> = [
    ['aether:manifest_digest', digest],
    ['aether:total_files', String(manifest.total_files)],
    ['aether:total_size', String(manifest.total_size)],
    ['aether:dependency_source', graph.source],
  ];
  for (const [name, value] of properties) bom.metadata.properties.add(new Models.Property(name, value));
  if (input.toolVersion) {
    bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, 'aether-cli', { version: input.toolVersion }));
  }

  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot5));
  return `${serializer.serialize(bom, { sortLists: false, space: 2 })}\n`;
}

/**
 * The exports of a CommonJS module loaded with import(). Node puts them on `default` (and
 * detects some names), esbuild's bundle only on `default` (it cannot see through the library's
 * `__exportStar` re-exports), so named access on the namespace works under vitest and fails in
 * dist/cli.
 */
function cjsExports<T extends object>(namespace: T): T {
  return (namespace as { default?: T }).default ?? namespace;
}

/**
 * `urn:uuid:` + a UUIDv8 (RFC 9562 §5.8, "custom") made of the first 128 bits of
 * sha256("aether-sbom-serial\0" + manifest digest), with the version and variant bits set.
 * The same artifact contents always get the same serial number, so rebuilding the SBOM gives
 * identical bytes, and different contents practically never share one.
 */
export function serialNumberFor(manifestDigestHex: string): string {
  const bytes = createHash('sha256').update(`aether-sbom-serial\0${manifestDigestHex}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
