import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { Header } from 'tar/header';
import { describe, expect, it } from 'vitest';
import { collectFiles, type PackEntry } from '../../cli/pack/collect.js';
import { packArtifact, type PackResult } from '../../cli/pack/pack.js';
import { GZIP_BLOCK_SIZE, tableCrc32 } from '../../cli/pack/parallel-gzip.js';
import { encodeHeader, entryMode, FIXED_MTIME } from '../../cli/pack/tar-records.js';
import { useTempTrees, writeTree, type TreeSpec } from '../support/tree.js';

const { tree, tempDir } = useTempTrees();

async function pack(root: string): Promise<PackResult & { outFile: string; bytes: Buffer }> {
  const outFile = join(await tempDir('aether-out-'), 'app.tar.gz');
  const result = await packArtifact({ root, entries: await collectFiles(root), outFile });
  return { ...result, outFile, bytes: await readFile(outFile) };
}

/** Source-like text: compressible, different per seed, the same on every run. */
function text(seed: number, size: number): Buffer {
  const words = ['const', 'require', 'module', 'exports', 'function', 'return', 'value', 'options'];
  let out = '';
  for (let x = seed + 1; out.length < size; ) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += `${words[x % 8]}_${x % 997}${x % 11 === 0 ? ';\n' : ' '}`;
  }
  return Buffer.from(out.slice(0, size));
}

/** ~3.5 MB of tar stream: several compression blocks, with files straddling their boundaries. */
function multiBlockSpec(): TreeSpec {
  const spec: TreeSpec = { 'package.json': '{"name":"big"}\n' };
  for (let i = 0; i < 400; i++) spec[`node_modules/pkg-${i % 40}/lib/file-${i}.js`] = text(i, 500 + ((i * 37) % 5000));
  spec['node_modules/big/bundle.js'] = text(7, 1_500_000);
  spec['node_modules/big/addon.node'] = randomBytes(600_000);
  spec['node_modules/big/bin/cli.js'] = { content: '#!/usr/bin/env node\n', mode: 0o755 };
  spec['node_modules/.bin/big'] = { symlink: '../big/bin/cli.js' };
  spec[`node_modules/${'long-name-'.repeat(12)}/ünïcode-名前.js`] = text(3, 2000);
  return spec;
}

/** The tar stream written the obvious way, to check the compressor against. */
function referenceTar(root: string, entries: readonly PackEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(encodeHeader(entry));
    if (entry.type !== 'file') continue;
    const body = readFileSync(join(root, entry.path));
    parts.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Asserts `bytes` is ONE gzip member whose content is `tar`, with a correct trailer. */
function expectGzipOf(bytes: Buffer, tar: Buffer): void {
  expect(zlib.gunzipSync(bytes).equals(tar)).toBe(true);
  // A single deflate stream spanning the whole body: gunzip alone would also accept members.
  const body = bytes.subarray(10, bytes.length - 8);
  const { buffer, engine } = zlib.inflateRawSync(body, { info: true }) as unknown as { buffer: Buffer; engine: zlib.InflateRaw };
  expect(buffer.equals(tar)).toBe(true);
  expect(engine.bytesWritten).toBe(body.length);
  expect(bytes.readUInt32LE(bytes.length - 8)).toBe(zlib.crc32(tar));
  expect(bytes.readUInt32LE(bytes.length - 4)).toBe(tar.length);
}

describe('parallel gzip', () => {
  it('decompresses to exactly our tar records, as one gzip member, across several blocks', async () => {
    const root = await tree(multiBlockSpec());
    const { bytes } = await pack(root);
    const tar = referenceTar(root, await collectFiles(root));
    expect(tar.length).toBeGreaterThan(3 * GZIP_BLOCK_SIZE);
    expectGzipOf(bytes, tar);
    expect(bytes.length).toBeLessThan(zlib.gzipSync(tar, { level: 6 }).length * 1.005);
  });

  it('primes each block with the previous block tail, keeping the ratio of a single stream', async () => {
    // 20 kB of noise repeated: a back-reference for a single stream, but ~20 kB per block for a
    // compressor that starts every block cold.
    const unit = randomBytes(20_000);
    const root = await tree({ 'repeated.bin': Buffer.concat(Array.from({ length: 200 }, () => unit)) });
    const { bytes } = await pack(root);
    const single = zlib.gzipSync(referenceTar(root, await collectFiles(root)), { level: 6 });
    expect(bytes.length).toBeLessThan(single.length + 1000);
  });

  it('packs a tree whose tar stream is an exact multiple of the block size', async () => {
    // One file: 512 bytes of header + body (a multiple of 512, so no padding) + 1024 of trailer.
    const root = await tree({ 'a.bin': text(1, 2 * GZIP_BLOCK_SIZE - 1536) });
    const { bytes, manifest } = await pack(root);
    const tar = referenceTar(root, await collectFiles(root));
    expect(tar.length).toBe(2 * GZIP_BLOCK_SIZE);
    expectGzipOf(bytes, tar);
    expect(manifest.files[0]?.sha256).toBe(createHash('sha256').update(await readFile(join(root, 'a.bin'))).digest('hex'));
  });

  it('packs a tree of 0 files into a valid, empty archive', async () => {
    const { bytes, manifest } = await pack(await tree({}));
    expectGzipOf(bytes, Buffer.alloc(1024));
    expect(manifest).toEqual({ files: [], total_files: 0, total_size: 0 });
  });

  it('gives the same bytes for two copies of a tree packed at the same time', async () => {
    const spec = multiBlockSpec();
    const a = await tree(spec, { mtime: new Date('2021-03-04T05:06:07Z') });
    const b = await tree(spec, { reverse: true, mtime: new Date('2024-11-12T13:14:15Z') });
    const [packedA, packedB] = await Promise.all([pack(a), pack(b)]);
    const alone = await pack(a);
    expect(packedB.digest).toBe(packedA.digest);
    expect(alone.digest).toBe(packedA.digest);
    expect(packedB.bytes.equals(packedA.bytes)).toBe(true);
    expect(packedA.digest).toBe(createHash('sha256').update(packedA.bytes).digest('hex'));
    expect(packedA.sizeBytes).toBe(packedA.bytes.length);
  });

  it('leaves nothing behind when a file vanishes while blocks are in flight', async () => {
    const root = await tree(multiBlockSpec());
    const entries = await collectFiles(root);
    // Sorted last, after ~3 MB of stream: several blocks are compressing when it fails.
    await rm(join(root, 'package.json'));
    const outDir = await tempDir('aether-out-');
    await expect(packArtifact({ root, entries, outFile: join(outDir, 'app.tar.gz') })).rejects.toThrow(/ENOENT/);
    expect(await readdir(outDir)).toEqual([]);
  });

  it('computes CRC-32 like zlib when falling back to the table (Node < 20.15)', () => {
    const data = randomBytes(100_000);
    expect(tableCrc32(data, 0)).toBe(zlib.crc32(data));
    expect(tableCrc32(data.subarray(5000), tableCrc32(data.subarray(0, 5000), 0))).toBe(zlib.crc32(data));
    expect(tableCrc32(Buffer.alloc(0), 0)).toBe(0);
  });
});

describe('tar headers', () => {
  it('writes short ASCII names byte-for-byte as tar.Header does, and long ones through it', () => {
    const entries: PackEntry[] = [
      { type: 'file', path: 'a', size: 0, executable: false },
      { type: 'file', path: `${'x'.repeat(98)}`, size: 511, executable: true },
      { type: 'file', path: `${'x'.repeat(99)}`, size: 0o77777777777, executable: false },
      { type: 'file', path: `${'y'.repeat(100)}`, size: 1, executable: false },
      { type: 'file', path: `dir/${'z'.repeat(120)}`, size: 1, executable: false },
      { type: 'file', path: 'ünïcode.txt', size: 3, executable: false },
      { type: 'directory', path: 'd'.repeat(98) },
      { type: 'directory', path: 'd'.repeat(99) },
      { type: 'symlink', path: 'node_modules/.bin/x', target: '../x/cli.js' },
      { type: 'symlink', path: 'l100', target: 't'.repeat(100) },
      { type: 'symlink', path: 'l101', target: 't'.repeat(101) },
    ];
    for (const entry of entries) {
      const header = new Header({
        path: entry.type === 'directory' ? `${entry.path}/` : entry.path,
        linkpath: entry.type === 'symlink' ? entry.target : '',
        mode: entryMode(entry),
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
        size: entry.type === 'file' ? entry.size : 0,
        mtime: FIXED_MTIME,
        type: entry.type === 'file' ? 'File' : entry.type === 'directory' ? 'Directory' : 'SymbolicLink',
      });
      const needsPax = header.encode();
      const encoded = encodeHeader(entry);
      // With a pax record first, the ustar block is the last one.
      expect(encoded.subarray(encoded.length - 512).equals(header.block!), entry.path).toBe(true);
      expect(encoded.length, entry.path).toBe(needsPax ? encoded.length : 512);
    }
  });
});

/** GNU tar (AETHER_TAR_BIN, else `tar`), which npm test provides: any other tar fails these tests. */
function gnuTar(): string {
  const bin = process.env.AETHER_TAR_BIN || 'tar';
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  if (!version.includes('GNU tar')) throw new Error(`${bin} is not GNU tar: set AETHER_TAR_BIN (npm test finds or installs one)`);
  return bin;
}

describe('system tar (GNU)', () => {
  it('extracts with tar -xzf into the files of the manifest', async () => {
    const root = await tree(multiBlockSpec());
    const { outFile, manifest } = await pack(root);
    const out = await tempDir('aether-extract-');
    execFileSync(gnuTar(), ['-xzf', outFile, '-C', out]);
    for (const file of manifest.files) {
      const body = await readFile(join(out, file.path));
      expect(createHash('sha256').update(body).digest('hex'), file.path).toBe(file.sha256);
    }
    expect(await readlink(join(out, 'node_modules/.bin/big'))).toBe('../big/bin/cli.js');
    expect((await lstat(join(out, 'node_modules/big/bin/cli.js'))).mode & 0o100).toBe(0o100);
  });

  it('lists normalised owners, modes and dates with tar -tzvf', async () => {
    const root = await tree(multiBlockSpec(), { fileMode: 0o600, dirMode: 0o700 });
    await writeTree(root, { 'public/uploads': { dir: true, mode: 0o700 } });
    const { outFile } = await pack(root);
    const listing = execFileSync(gnuTar(), ['-tzvf', outFile], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    const lines = listing.trimEnd().split('\n');
    expect(lines).toHaveLength((await collectFiles(root)).length);
    for (const line of lines) {
      const match = /^(\S{10}) (\S+)\s+\d+ (\d{4}-\d\d-\d\d \d\d:\d\d) (.+)$/.exec(line);
      expect(match, line).not.toBeNull();
      const [, mode, owner, date, name] = match!;
      expect(['0/0', 'root/root'], line).toContain(owner);
      expect(date, line).toBe('1980-01-01 00:00');
      const expected = mode!.startsWith('d') ? 'drwxr-xr-x' : mode!.startsWith('l') ? 'lrwxrwxrwx' : name!.endsWith('bin/cli.js') ? '-rwxr-xr-x' : '-rw-r--r--';
      expect(mode, line).toBe(expected);
    }
    expect(listing).toContain('node_modules/.bin/big -> ../big/bin/cli.js');
  });
});
