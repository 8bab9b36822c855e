import { createHash } from 'node:crypto';
import { appendFile, lstat, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { extract } from 'tar/extract';
import { list } from 'tar/list';
import { describe, expect, it } from 'vitest';
import { collectFiles } from '../../cli/pack/collect.js';
import { writeManifest } from '../../cli/pack/manifest.js';
import { packArtifact, type PackResult } from '../../cli/pack/pack.js';
import { FIXED_MTIME } from '../../cli/pack/tar-records.js';
import { useTempTrees, type TreeSpec } from '../support/tree.js';

// Over 100 bytes (ustar prefix split) and over 255 (needs a pax record).
const LONG_DIR = `node_modules/${'d'.repeat(90)}/${'e'.repeat(90)}`;
const LONG_PATH = `${LONG_DIR}/${'f'.repeat(120)}.js`;

const PROJECT: TreeSpec = {
  'package.json': '{"name":"demo"}\n',
  'src/index.js': 'console.log("hello");\n',
  'src/lib/util.js': 'export const x = 1;\n',
  'bin/start': { content: '#!/bin/sh\nexec node src/index.js\n', mode: 0o755 },
  'node_modules/x/cli.js': { content: '#!/usr/bin/env node\n', mode: 0o755 },
  'node_modules/x/package.json': '{"name":"x","bin":"cli.js"}\n',
  'node_modules/.bin/x': { symlink: '../x/cli.js' },
  'public/uploads': { dir: true },
  'ünïcode-名前.txt': 'unicode\n',
  [LONG_PATH]: 'deep\n',
};

/** Same exec-bit classes as PROJECT, different bits: what another umask or checkout gives. */
const PROJECT_OTHER_MODES: TreeSpec = {
  ...PROJECT,
  'bin/start': { content: '#!/bin/sh\nexec node src/index.js\n', mode: 0o700 },
  'node_modules/x/cli.js': { content: '#!/usr/bin/env node\n', mode: 0o744 },
  'public/uploads': { dir: true, mode: 0o700 },
};

const { tree, tempDir } = useTempTrees();

async function pack(root: string, compressionLevel?: number): Promise<PackResult & { outFile: string }> {
  const outDir = await tempDir('aether-out-');
  const outFile = join(outDir, 'app.tar.gz');
  const result = await packArtifact({ root, entries: await collectFiles(root), outFile, compressionLevel });
  return { ...result, outFile };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('packArtifact determinism', () => {
  it('gives the same bytes for copies with other mtimes, creation order and modes', async () => {
    const a = await tree(PROJECT, { mtime: new Date('2021-03-04T05:06:07Z'), fileMode: 0o644, dirMode: 0o755 });
    const b = await tree(PROJECT_OTHER_MODES, {
      reverse: true,
      mtime: new Date('2024-11-12T13:14:15Z'),
      fileMode: 0o600,
      dirMode: 0o775,
    });
    const [packedA, packedB] = [await pack(a), await pack(b)];

    expect(packedB.digest).toBe(packedA.digest);
    expect(packedB.manifest).toEqual(packedA.manifest);
    const bytes = await readFile(packedA.outFile);
    expect(packedA.digest).toBe(sha256(bytes));
    expect(packedA.sizeBytes).toBe(bytes.length);
  });

  it('packs a node_modules installed beside the project as if it were the project\'s own', async () => {
    const whole = await tree(PROJECT);
    const modules = Object.fromEntries(Object.entries(PROJECT).filter(([p]) => p.startsWith('node_modules/')));
    const source = Object.fromEntries(Object.entries(PROJECT).filter(([p]) => !p.startsWith('node_modules/')));
    // The project's own node_modules (dev dependencies) must not ship when a staged one is given.
    const project = await tree({ ...source, 'node_modules/dev-only/index.js': 'dev\n' });
    const staged = await tree(modules);
    const outFile = join(await tempDir('aether-out-'), 'app.tar.gz');
    const result = await packArtifact({ root: project, entries: await collectFiles(project, { modulesRoot: staged }), outFile });
    expect(result.digest).toBe((await pack(whole)).digest);
  });

  it('is reproducible at every compression level, and the level changes the bytes', async () => {
    const root = await tree(PROJECT);
    const fast = [await pack(root, 1), await pack(root, 1)];
    const best = await pack(root, 9);
    expect(fast[1]?.digest).toBe(fast[0]?.digest);
    expect(best.digest).not.toBe(fast[0]?.digest);
    await expect(packArtifact({ root, entries: [], outFile: join(root, 'x'), compressionLevel: 10 })).rejects.toThrow(
      RangeError,
    );
  });

  it('changes the digest when one byte of one file changes', async () => {
    const before = await pack(await tree(PROJECT));
    const changed = await pack(await tree({ ...PROJECT, 'src/lib/util.js': 'export const x = 2;\n' }));
    expect(changed.digest).not.toBe(before.digest);
  });

  it('changes the digest when a file is renamed', async () => {
    const root = await tree(PROJECT);
    const before = await pack(root);
    await rename(join(root, 'src/lib/util.js'), join(root, 'src/lib/utils.js'));
    expect((await pack(root)).digest).not.toBe(before.digest);
  });
});

describe('artifact format', () => {
  it('lists sorted paths owned by 0:0 with the fixed mtime and normalised modes', async () => {
    const { outFile } = await pack(await tree(PROJECT_OTHER_MODES, { fileMode: 0o664, dirMode: 0o700 }));
    const seen: Array<Record<string, unknown>> = [];
    await list({
      file: outFile,
      onReadEntry: (entry) => {
        seen.push({
          path: entry.path,
          type: entry.type,
          mode: entry.mode,
          uid: entry.uid,
          gid: entry.gid,
          uname: entry.uname,
          gname: entry.gname,
          mtime: entry.mtime?.toISOString(),
          atime: entry.atime,
          ctime: entry.ctime,
          linkpath: entry.type === 'SymbolicLink' ? entry.linkpath : undefined,
        });
      },
    });

    const paths = seen.map((e) => String(e.path).replace(/\/$/, ''));
    const byteOrder = [...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(paths).toEqual(byteOrder);
    expect(paths).toContain(LONG_PATH);
    for (const entry of seen) {
      expect(entry).toMatchObject({ uid: 0, gid: 0, uname: '', gname: '', mtime: FIXED_MTIME.toISOString() });
      expect(entry.atime).toBeUndefined();
      expect(entry.ctime).toBeUndefined();
      const expectedMode = { Directory: 0o755, SymbolicLink: 0o777, File: 0o644 }[String(entry.type)];
      const executable = ['bin/start', 'node_modules/x/cli.js'].includes(String(entry.path));
      expect(entry.mode, String(entry.path)).toBe(executable ? 0o755 : expectedMode);
    }
    expect(seen.find((e) => e.path === 'node_modules/.bin/x')).toMatchObject({
      type: 'SymbolicLink',
      linkpath: '../x/cli.js',
    });
    expect(seen.find((e) => e.path === 'public/uploads/')).toMatchObject({ type: 'Directory' });
  });

  it('writes a gzip header without timestamp and with OS "unknown"', async () => {
    const header = (await readFile((await pack(await tree(PROJECT))).outFile)).subarray(0, 10);
    expect([...header.subarray(0, 3)]).toEqual([0x1f, 0x8b, 0x08]);
    expect([...header.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
    expect(header[9]).toBe(0xff);
  });

  it('extracts to the same tree, keeping symlinks as symlinks', async () => {
    const root = await tree(PROJECT);
    const { outFile, manifest } = await pack(root);
    const out = await tempDir('aether-extract-');
    await extract({ file: outFile, cwd: out });

    for (const file of manifest.files) {
      expect(sha256(await readFile(join(out, file.path))), file.path).toBe(file.sha256);
    }
    const link = await lstat(join(out, 'node_modules/.bin/x'));
    expect(link.isSymbolicLink()).toBe(true);
    expect(await readlink(join(out, 'node_modules/.bin/x'))).toBe('../x/cli.js');
    expect((await lstat(join(out, 'bin/start'))).mode & 0o777).toBe(0o755);
    expect((await lstat(join(out, 'public/uploads'))).isDirectory()).toBe(true);
  });

  it('builds a manifest of regular files with their sha256, sorted, and writes it as JSON', async () => {
    const root = await tree(PROJECT);
    const { manifest } = await pack(root);
    expect(manifest.files.map((f) => f.path)).not.toContain('node_modules/.bin/x');
    expect(manifest.total_files).toBe(manifest.files.length);
    expect(manifest.total_size).toBe(manifest.files.reduce((n, f) => n + f.size, 0));
    const pkg = manifest.files.find((f) => f.path === 'package.json');
    expect(pkg).toEqual({ path: 'package.json', size: 16, sha256: sha256(Buffer.from('{"name":"demo"}\n')) });

    const manifestPath = join(root, 'm.json');
    await writeManifest(manifestPath, manifest);
    const text = await readFile(manifestPath, 'utf8');
    expect(text).toBe(`${JSON.stringify(manifest, null, 2)}\n`);
  });
});

describe('packArtifact failures', () => {
  async function expectNothingWritten(outFile: string): Promise<void> {
    expect(await readdir(dirname(outFile))).toEqual([]);
  }

  it('rejects a file that vanished since collection and leaves no file behind', async () => {
    const root = await tree(PROJECT);
    const entries = await collectFiles(root);
    await rm(join(root, 'src/index.js'));
    const outDir = await tempDir('aether-out-');
    const outFile = join(outDir, 'app.tar.gz');
    await expect(packArtifact({ root, entries, outFile })).rejects.toThrow(/ENOENT/);
    await expectNothingWritten(outFile);
  });

  it('rejects a file that changed size since collection', async () => {
    const root = await tree(PROJECT);
    const entries = await collectFiles(root);
    await appendFile(join(root, 'package.json'), 'more');
    const outDir = await tempDir('aether-out-');
    const outFile = join(outDir, 'app.tar.gz');
    await expect(packArtifact({ root, entries, outFile })).rejects.toThrow(/package\.json changed while packing/);
    await expectNothingWritten(outFile);
  });

  it('refuses a file replaced by a symlink since collection', async () => {
    const root = await tree(PROJECT);
    const entries = await collectFiles(root);
    await rm(join(root, 'package.json'));
    await writeFile(join(root, 'outside'), 'secret');
    await symlink(join(root, 'outside'), join(root, 'package.json'));
    const outDir = await tempDir('aether-out-');
    await expect(packArtifact({ root, entries, outFile: join(outDir, 'app.tar.gz') })).rejects.toThrow(/ELOOP/);
    await expectNothingWritten(join(outDir, 'app.tar.gz'));
  });
});
