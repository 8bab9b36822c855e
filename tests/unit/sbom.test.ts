import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { collectFiles } from '../../cli/pack/collect.js';
import type { Manifest } from '../../cli/pack/manifest.js';
import { packArtifact } from '../../cli/pack/pack.js';
import { buildCycloneDxSbom, buildLegacySbom, manifestDigest, readPackageJson, sbomPath, writeSbom } from '../../cli/sbom/index.js';
import { installedPackageDir } from '../../cli/sbom/installed.js';
import { graphFromPackageLock } from '../../cli/sbom/npm-lock.js';
import { npmPurl } from '../../cli/sbom/purl.js';
import { parseYarnLockV1 } from '../../cli/sbom/yarn-lock.js';
import { useTempTrees, type TreeSpec } from '../support/tree.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/sbom');
const NPM_APP = join(FIXTURES, 'npm-app');
const YARN_APP = join(FIXTURES, 'yarn-app');

const temp = useTempTrees();
const tempDir = () => temp.tempDir('aether-sbom-');


const tree = (spec: TreeSpec) => temp.tree(spec);

/** The manifest packArtifact gives for `root` (the artifact itself goes to a temp dir). */
async function manifestOf(root: string): Promise<Manifest> {
  const out = await tempDir();
  return (await packArtifact({ root, entries: await collectFiles(root), outFile: join(out, 'app.tar.gz') })).manifest;
}

async function cyclonedx(root: string, manifest?: Manifest, warnings: string[] = []): Promise<{ text: string; bom: Bom }> {
  const text = await buildCycloneDxSbom({
    root,
    packageJson: await readPackageJson(root),
    manifest: manifest ?? (await manifestOf(root)),
    warn: (m) => warnings.push(m),
  });
  return { text, bom: JSON.parse(text) as Bom };
}

interface BomComponent {
  type: string;
  name: string;
  group?: string;
  version?: string;
  purl?: string;
  'bom-ref'?: string;
  hashes?: Array<{ alg: string; content: string }>;
}
interface Bom {
  bomFormat: string;
  specVersion: string;
  serialNumber: string;
  version: number;
  metadata: { timestamp?: string; component: BomComponent; properties: Array<{ name: string; value: string }> };
  components: BomComponent[];
  dependencies: Array<{ ref: string; dependsOn?: string[] }>;
}

const sriHex = (integrity: string) => Buffer.from(integrity.slice(integrity.indexOf('-') + 1), 'base64').toString('hex');
const dependsOn = (bom: Bom, ref: string) => bom.dependencies.find((d) => d.ref === ref)?.dependsOn ?? [];
const purls = (bom: Bom) => bom.components.map((c) => c.purl);

/**
 * Validates against the CycloneDX 1.5 JSON schema shipped with the library. The library's own
 * validator needs ajv, ajv-formats and ajv-formats-draft2019; the last is not installed, so we
 * fall back to the same ajv setup with its one use (the `idn-email` format) stood in for.
 */
async function schemaErrors(json: string): Promise<unknown> {
  validator ??= loadValidator();
  return (await validator)(json);
}
let validator: Promise<(json: string) => Promise<unknown>> | undefined;

async function loadValidator(): Promise<(json: string) => Promise<unknown>> {
  const { Spec, Validation } = await import('@cyclonedx/cyclonedx-library');
  const library = new Validation.JsonStrictValidator(Spec.Version.v1dot5);
  try {
    await library.validate('{}');
    return (json) => library.validate(json);
  } catch (err) {
    if (!(err instanceof Validation.MissingOptionalDependencyError)) throw err;
  }
  const { default: Ajv } = await import('ajv');
  const { default: addFormats } = await import('ajv-formats');
  const schemaDir = join(dirname(createRequire(import.meta.url).resolve('@cyclonedx/cyclonedx-library/package.json')), 'res/schema');
  const load = async (file: string) => JSON.parse(await readFile(join(schemaDir, file), 'utf8')) as object;
  const ajv = new Ajv({
    useDefaults: false,
    strict: false,
    strictSchema: false,
    addUsedSchema: false,
    schemas: {
      'http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json': await load('spdx.SNAPSHOT.schema.json'),
      'http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json': await load('jsf-0.82.SNAPSHOT.schema.json'),
    },
  });
  addFormats(ajv);
  ajv.addFormat('idn-email', /^[^\s@]+@[^\s@]+$/);
  ajv.addFormat('iri-reference', true);
  const validate = ajv.compile(await load('bom-1.5.SNAPSHOT.schema.json'));
  return async (json) => (validate(JSON.parse(json)) ? null : validate.errors);
}

describe('manifestDigest', () => {
  const files = [
    { path: 'b.js', size: 1, sha256: 'b'.repeat(64) },
    { path: 'a/z.js', size: 2, sha256: 'a'.repeat(64) },
    { path: 'a', size: 3, sha256: 'c'.repeat(64) },
  ];
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

  it('hashes sorted `path\\0sha256\\n` lines, whatever the order of the files', () => {
    const expected = sha256(`a\0${'c'.repeat(64)}\na/z.js\0${'a'.repeat(64)}\nb.js\0${'b'.repeat(64)}\n`);
    expect(manifestDigest({ files })).toBe(expected);
    expect(manifestDigest({ files: [...files].reverse() })).toBe(expected);
    // The seed's walk-order value is what this fixes.
    expect(manifestDigest({ files })).not.toBe(sha256(files.map((f) => `${f.path}\0${f.sha256}\n`).join('')));
  });

  it('sorts by UTF-8 bytes, not UTF-16 code units', () => {
    const a = { path: '\u{1F600}.txt', size: 1, sha256: '1'.repeat(64) }; // 4 bytes starting 0xF0
    const b = { path: '\uFF21.txt', size: 1, sha256: '2'.repeat(64) }; // 3 bytes starting 0xEF
    expect(manifestDigest({ files: [a, b] })).toBe(sha256(`${b.path}\0${b.sha256}\n${a.path}\0${a.sha256}\n`));
  });
});

describe('npmPurl', () => {
  it('percent-encodes the scope and lowercases npm names', () => {
    expect(npmPurl('@acme/logger', '1.2.3')).toBe('pkg:npm/%40acme/logger@1.2.3');
    expect(npmPurl('JSONStream', '1.3.5')).toBe('pkg:npm/jsonstream@1.3.5');
    expect(npmPurl('left-pad', '1.0.0+build.1')).toBe('pkg:npm/left-pad@1.0.0%2Bbuild.1');
    expect(npmPurl('x', '')).toBe('pkg:npm/x');
    expect(npmPurl('x', '1.0.0', { vcs_url: 'git+https://h/x.git#abc' })).toBe('pkg:npm/x@1.0.0?vcs_url=git%2Bhttps%3A%2F%2Fh%2Fx.git%23abc');
  });
});

describe('CycloneDX SBOM from package-lock.json v3', () => {
  it('is valid CycloneDX 1.5 (and the schema check does reject a broken one)', async () => {
    const { text, bom } = await cyclonedx(NPM_APP);
    expect(await schemaErrors(text)).toBeNull();
    bom.components[0]!.hashes![0]!.content = 'sha512-not-hex';
    expect(await schemaErrors(JSON.stringify(bom))).not.toBeNull();
    expect(await schemaErrors(JSON.stringify({ ...bom, 'x-manifest-digest': 'seed-style extension' }))).not.toBeNull();
  });

  it('lists resolved production packages, transitive ones included, without dev or unshipped optional ones', async () => {
    const { bom } = await cyclonedx(NPM_APP);
    expect(bom.bomFormat).toBe('CycloneDX');
    expect(bom.specVersion).toBe('1.5');
    expect(purls(bom)).toEqual([
      'pkg:npm/%40acme/logger@1.2.3',
      'pkg:npm/debug@4.3.4',
      'pkg:npm/kleur@4.1.5', // installed as the alias "colors"
      'pkg:npm/left-pad@1.3.0',
      'pkg:npm/ms@2.1.2', // transitive, from debug
      'pkg:npm/ms@2.1.3', // transitive, nested under @acme/logger
    ]);
    const logger = bom.components.find((c) => c.name === 'logger')!;
    expect(logger).toMatchObject({ type: 'library', group: '@acme', version: '1.2.3', 'bom-ref': 'pkg:npm/%40acme/logger@1.2.3' });
    for (const absent of ['vitest-lite', 'tinyspy', 'fsevents', 'colors']) {
      expect(bom.components.some((c) => c.name === absent)).toBe(false);
    }
  });

  it('turns lockfile integrity into hex hashes', async () => {
    const { bom } = await cyclonedx(NPM_APP);
    const lock = JSON.parse(await readFile(join(NPM_APP, 'package-lock.json'), 'utf8')) as { packages: Record<string, { integrity: string }> };
    const [sha512, sha1] = lock.packages['node_modules/left-pad']!.integrity.split(' ') as [string, string];
    expect(bom.components.find((c) => c.name === 'left-pad')!.hashes).toEqual([
      { alg: 'SHA-512', content: sriHex(sha512) },
      { alg: 'SHA-1', content: sriHex(sha1) },
    ]);
    expect(bom.components.find((c) => c.purl === 'pkg:npm/ms@2.1.2')!.hashes).toEqual([
      { alg: 'SHA-1', content: sriHex(lock.packages['node_modules/ms']!.integrity) },
    ]);
    for (const c of bom.components) for (const h of c.hashes ?? []) expect(h.content).toMatch(/^[0-9a-f]+$/);
  });

  it('records the dependency graph as Node resolves it', async () => {
    const { bom } = await cyclonedx(NPM_APP);
    const app = bom.metadata.component['bom-ref']!;
    expect(app).toBe('pkg:npm/%40acme/orders-api@2.4.0');
    expect(dependsOn(bom, app)).toEqual(['pkg:npm/%40acme/logger@1.2.3', 'pkg:npm/debug@4.3.4', 'pkg:npm/kleur@4.1.5', 'pkg:npm/left-pad@1.3.0']);
    expect(dependsOn(bom, 'pkg:npm/%40acme/logger@1.2.3')).toEqual(['pkg:npm/left-pad@1.3.0', 'pkg:npm/ms@2.1.3']);
    expect(dependsOn(bom, 'pkg:npm/debug@4.3.4')).toEqual(['pkg:npm/ms@2.1.2']);
    expect(bom.dependencies.map((d) => d.ref).sort()).toEqual([app, ...purls(bom)].sort());
  });

  it('describes the app: package.json name and version, SHA-256 = manifest digest, aether properties', async () => {
    const manifest = await manifestOf(NPM_APP);
    const { bom } = await cyclonedx(NPM_APP, manifest);
    const digest = manifestDigest(manifest);
    expect(bom.metadata.component).toMatchObject({
      type: 'application',
      name: 'orders-api',
      group: '@acme',
      version: '2.4.0',
      purl: 'pkg:npm/%40acme/orders-api@2.4.0',
      hashes: [{ alg: 'SHA-256', content: digest }],
    });
    expect(bom.metadata.properties).toEqual([
      { name: 'aether:manifest_digest', value: digest },
      { name: 'aether:total_files', value: String(manifest.total_files) },
      { name: 'aether:total_size', value: String(manifest.total_size) },
      { name: 'aether:dependency_source', value: 'package-lock.json' },
    ]);
  });

  it('is byte-identical when rebuilt, also from a copy elsewhere; the serial number follows the contents', async () => {
    const first = await cyclonedx(NPM_APP);
    const again = await cyclonedx(NPM_APP);
    const copy = await tempDir();
    await cp(NPM_APP, copy, { recursive: true });
    const elsewhere = await cyclonedx(copy);
    expect(again.text).toBe(first.text);
    expect(elsewhere.text).toBe(first.text);
    expect(first.bom.metadata.timestamp).toBeUndefined();
    expect(first.bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    await writeFile(join(copy, 'index.js'), 'changed\n');
    expect((await cyclonedx(copy)).bom.serialNumber).not.toBe(first.bom.serialNumber);
  });

  it('gives the same bytes when bundled by esbuild as the CLI is (CommonJS interop of the library)', async () => {
    const manifest = await manifestOf(NPM_APP);
    const outdir = await tempDir();
    const { build } = await import('esbuild');
    // The options of scripts/build-cli.mjs that matter here.
    await build({
      entryPoints: { sbom: join(dirname(fileURLToPath(import.meta.url)), '../../cli/sbom/index.ts') },
      outdir,
      splitting: true,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      minify: true,
      external: ['xmlbuilder2'],
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: 'silent',
    });
    await writeFile(join(outdir, 'manifest.json'), JSON.stringify(manifest));
    const script = `
      import { readFileSync } from 'node:fs';
      const { buildCycloneDxSbom, readPackageJson } = await import(${JSON.stringify(pathToFileURL(join(outdir, 'sbom.mjs')).href)});
      const root = ${JSON.stringify(NPM_APP)};
      const manifest = JSON.parse(readFileSync(${JSON.stringify(join(outdir, 'manifest.json'))}, 'utf8'));
      process.stdout.write(await buildCycloneDxSbom({ root, packageJson: await readPackageJson(root), manifest }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: outdir });
    expect(stdout).toBe((await cyclonedx(NPM_APP, manifest)).text);
  });

  it('lists an optional package when the artifact ships it', async () => {
    const manifest = await manifestOf(NPM_APP);
    const files = [...manifest.files, { path: 'node_modules/fsevents/package.json', size: 2, sha256: 'f'.repeat(64) }];
    const { bom } = await cyclonedx(NPM_APP, { ...manifest, files });
    expect(purls(bom)).toContain('pkg:npm/fsevents@2.3.3');
    expect(dependsOn(bom, bom.metadata.component['bom-ref']!)).toContain('pkg:npm/fsevents@2.3.3');
  });

  it('reads a v1 lockfile (npm 6) through the same rules', () => {
    const v1 = {
      lockfileVersion: 1,
      dependencies: {
        a: { version: '1.0.0', integrity: 'sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=', requires: { b: '^2.0.0' }, dependencies: { b: { version: '2.0.0' } } },
        b: { version: '1.0.0' },
        alias: { version: 'npm:real@3.0.0' },
        devonly: { version: '9.0.0', dev: true },
      },
    };
    const graph = graphFromPackageLock(JSON.stringify(v1), {
      source: 'package-lock.json',
      packageJson: { dependencies: { a: '^1', b: '^1', alias: 'npm:real@^3' } },
      shipsPackageAt: () => false,
    });
    expect([...graph.packages.keys()].sort()).toEqual(['pkg:npm/a@1.0.0', 'pkg:npm/b@1.0.0', 'pkg:npm/b@2.0.0', 'pkg:npm/real@3.0.0']);
    expect([...graph.packages.get('pkg:npm/a@1.0.0')!.dependsOn]).toEqual(['pkg:npm/b@2.0.0']);
    expect(graph.packages.get('pkg:npm/a@1.0.0')!.hashes).toEqual([['SHA-1', '0'.repeat(40)]]);
    expect([...graph.direct].sort()).toEqual(['pkg:npm/a@1.0.0', 'pkg:npm/b@1.0.0', 'pkg:npm/real@3.0.0']);
  });
});

describe('CycloneDX SBOM from yarn.lock (v1)', () => {
  it('parses specifiers, quoted keys and nested maps', async () => {
    const entries = parseYarnLockV1(await readFile(join(YARN_APP, 'yarn.lock'), 'utf8'));
    expect(entries.get('@acme/logger@^1.2.0')).toMatchObject({ version: '1.2.3', dependencies: { ms: '^2.1.3' } });
    expect(entries.get('colors@npm:kleur@^4.1.5')?.version).toBe('4.1.5');
    expect(entries.get('debug@^4.3.0')?.dependencies).toEqual({ ms: '2.1.2' });
    const multi = parseYarnLockV1('"a@^1.0.0", a@~1.1:\n  version "1.1.2"\n');
    expect(multi.get('a@^1.0.0')).toBe(multi.get('a@~1.1'));
  });

  it('follows package.json dependencies through the lockfile: production only, aliases resolved, hashes in hex', async () => {
    const { text, bom } = await cyclonedx(YARN_APP);
    expect(await schemaErrors(text)).toBeNull();
    expect(purls(bom)).toEqual(['pkg:npm/%40acme/logger@1.2.3', 'pkg:npm/debug@4.3.4', 'pkg:npm/kleur@4.1.5', 'pkg:npm/ms@2.1.2', 'pkg:npm/ms@2.1.3']);
    expect(dependsOn(bom, 'pkg:npm/yarn-app@0.3.1')).toEqual(['pkg:npm/%40acme/logger@1.2.3', 'pkg:npm/debug@4.3.4', 'pkg:npm/kleur@4.1.5']);
    expect(dependsOn(bom, 'pkg:npm/debug@4.3.4')).toEqual(['pkg:npm/ms@2.1.2']);
    // No integrity line: the sha1 yarn v1 keeps after `#` in the tarball URL.
    expect(bom.components.find((c) => c.purl === 'pkg:npm/ms@2.1.2')!.hashes).toEqual([
      { alg: 'SHA-1', content: createHash('sha1').update('ms@2.1.2').digest('hex') },
    ]);
    expect(bom.components.find((c) => c.purl === 'pkg:npm/kleur@4.1.5')!.hashes).toEqual([
      { alg: 'SHA-512', content: createHash('sha512').update('kleur@4.1.5').digest('hex') },
    ]);
    expect(bom.metadata.properties.find((p) => p.name === 'aether:dependency_source')?.value).toBe('yarn.lock');
  });

  it('falls back to the installed packages, with a warning, for a yarn 2+ lockfile', async () => {
    const root = await tree({
      'package.json': JSON.stringify({ name: 'berry', version: '1.0.0', dependencies: { a: '^1' } }),
      'yarn.lock': '__metadata:\n  version: 6\n\n"a@npm:^1":\n  version: 1.0.0\n',
      'node_modules/a/package.json': JSON.stringify({ name: 'a', version: '1.0.0' }),
    });
    const warnings: string[] = [];
    const { bom } = await cyclonedx(root, undefined, warnings);
    expect(purls(bom)).toEqual(['pkg:npm/a@1.0.0']);
    expect(warnings).toEqual([expect.stringContaining('yarn 2+')]);
  });
});

describe('CycloneDX SBOM without a lockfile: the installed node_modules', () => {
  it('finds installed package.json files, not the ones packages ship inside themselves', () => {
    expect(installedPackageDir('node_modules/a/package.json')).toBe('node_modules/a');
    expect(installedPackageDir('node_modules/@s/b/package.json')).toBe('node_modules/@s/b');
    expect(installedPackageDir('node_modules/a/node_modules/c/package.json')).toBe('node_modules/a/node_modules/c');
    expect(installedPackageDir('node_modules/.pnpm/a@1.0.0/node_modules/a/package.json')).toBe('node_modules/.pnpm/a@1.0.0/node_modules/a');
    expect(installedPackageDir('packages/web/node_modules/a/package.json')).toBe('packages/web/node_modules/a');
    expect(installedPackageDir('package.json')).toBeNull();
    expect(installedPackageDir('node_modules/a/dist/package.json')).toBeNull();
    expect(installedPackageDir('node_modules/a/test/fixture/node_modules/x/package.json')).toBeNull();
    expect(installedPackageDir('node_modules/@s/package.json')).toBeNull();
  });

  it('lists installed versions and resolves the graph (npm layout)', async () => {
    const pkg = (name: string, version: string, dependencies?: Record<string, string>) => JSON.stringify({ name, version, dependencies });
    const root = await tree({
      'package.json': JSON.stringify({ name: 'plain', version: '1.0.0', dependencies: { a: '^1', '@s/b': '^2' } }),
      'node_modules/a/package.json': pkg('a', '1.4.0', { c: '^1' }),
      'node_modules/a/node_modules/c/package.json': pkg('c', '1.0.1'),
      'node_modules/a/test/node_modules/x/package.json': pkg('x', '0.0.1'),
      'node_modules/@s/b/package.json': pkg('@s/b', '2.0.0', { c: '^2', missing: '^1' }),
      'node_modules/c/package.json': pkg('c', '2.1.0'),
    });
    const { text, bom } = await cyclonedx(root);
    expect(await schemaErrors(text)).toBeNull();
    expect(purls(bom)).toEqual(['pkg:npm/%40s/b@2.0.0', 'pkg:npm/a@1.4.0', 'pkg:npm/c@1.0.1', 'pkg:npm/c@2.1.0']);
    expect(dependsOn(bom, 'pkg:npm/plain@1.0.0')).toEqual(['pkg:npm/%40s/b@2.0.0', 'pkg:npm/a@1.4.0']);
    expect(dependsOn(bom, 'pkg:npm/a@1.4.0')).toEqual(['pkg:npm/c@1.0.1']);
    expect(dependsOn(bom, 'pkg:npm/%40s/b@2.0.0')).toEqual(['pkg:npm/c@2.1.0']);
    expect(bom.components.every((c) => c.hashes === undefined)).toBe(true);
    expect(bom.metadata.properties.find((p) => p.name === 'aether:dependency_source')?.value).toBe('node_modules');
  });

  it('follows pnpm symlinks, and says why pnpm-lock.yaml was not used', async () => {
    const root = await tree({
      'package.json': JSON.stringify({ name: 'pnpm-app', version: '1.0.0', dependencies: { a: '^1' } }),
      'pnpm-lock.yaml': "lockfileVersion: '9.0'\n",
      'node_modules/a': { symlink: '.pnpm/a@1.0.0/node_modules/a' },
      'node_modules/.pnpm/a@1.0.0/node_modules/a/package.json': JSON.stringify({ name: 'a', version: '1.0.0', dependencies: { b: '^2' } }),
      'node_modules/.pnpm/a@1.0.0/node_modules/b': { symlink: '../../b@2.0.0/node_modules/b' },
      'node_modules/.pnpm/b@2.0.0/node_modules/b/package.json': JSON.stringify({ name: 'b', version: '2.0.0' }),
    });
    const warnings: string[] = [];
    const { bom } = await cyclonedx(root, undefined, warnings);
    expect(purls(bom)).toEqual(['pkg:npm/a@1.0.0', 'pkg:npm/b@2.0.0']);
    expect(dependsOn(bom, 'pkg:npm/pnpm-app@1.0.0')).toEqual(['pkg:npm/a@1.0.0']);
    expect(dependsOn(bom, 'pkg:npm/a@1.0.0')).toEqual(['pkg:npm/b@2.0.0']);
    expect(warnings).toEqual([expect.stringContaining('pnpm-lock.yaml is not read')]);
  });
});

describe('legacy aether-sbom-v1', () => {
  it("has the seed's fields, with the sorted manifest digest and declared dependencies by name", async () => {
    const manifest = await manifestOf(NPM_APP);
    const sbom = JSON.parse(buildLegacySbom({ packageJson: await readPackageJson(NPM_APP), manifest })) as Record<string, unknown>;
    expect(Object.keys(sbom)).toEqual(['schema', 'package', 'version', 'total_files', 'total_size', 'manifest_digest', 'files', 'dependencies']);
    expect(sbom).toEqual({
      schema: 'aether-sbom-v1',
      package: '@acme/orders-api',
      version: '2.4.0',
      total_files: manifest.total_files,
      total_size: manifest.total_size,
      manifest_digest: manifestDigest(manifest),
      files: manifest.files,
      dependencies: [
        { name: '@acme/logger', spec: '^1.2.0' },
        { name: 'colors', spec: 'npm:kleur@^4.1.5' },
        { name: 'debug', spec: '^4.3.0' },
        { name: 'left-pad', spec: '~1.3.0' },
      ],
    });
  });
});

describe('writeSbom', () => {
  it('writes <artifact>.sbom.json in either format and says what to upload it as', async () => {
    const manifest = await manifestOf(NPM_APP);
    const artifactPath = join(await tempDir(), `app-${'a'.repeat(64)}.tar.gz`);
    const cdx = await writeSbom({ root: NPM_APP, manifest, artifactPath, format: 'cyclonedx' });
    expect(cdx).toEqual({ path: `${artifactPath}.sbom.json`, format: 'cyclonedx', mediaType: 'application/vnd.cyclonedx+json' });
    expect(cdx.path).toBe(sbomPath(artifactPath));
    expect(await readFile(cdx.path, 'utf8')).toBe((await cyclonedx(NPM_APP, manifest)).text);

    const legacy = await writeSbom({ root: NPM_APP, manifest, artifactPath, format: 'legacy' });
    expect(legacy.mediaType).toBe('application/json');
    expect(JSON.parse(await readFile(legacy.path, 'utf8'))).toMatchObject({ schema: 'aether-sbom-v1' });
  });
});
