import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeExtract, type ExtractLimits } from '../../server/runtime/extract';
import { TreeWriter } from '../../server/runtime/extract-writer';
import { RolloutError } from '../../server/runtime/port';
import { Header } from 'tar';
import { tarBytes, tarGz, type ArtifactSpec } from '../support/artifacts';

let sandbox: string;
let parent: string;
let outside: string;

beforeAll(async () => {
  sandbox = await mkdtemp(path.join(tmpdir(), 'aether-extract-'));
  parent = path.join(sandbox, 'apps');
  outside = path.join(sandbox, 'outside');
  await mkdir(parent);
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret'), 'untouched');
});

afterAll(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

/** Every path under the sandbox with its type and size: "nothing written anywhere" is equality. */
async function snapshot(dir = sandbox): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const p = path.join(dir, name);
    const s = await lstat(p);
    out.push(`${path.relative(sandbox, p)} ${s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : 'f'} ${s.size}`);
    if (s.isDirectory()) out.push(...(await snapshot(p)));
  }
  return out;
}

async function expectRefused(archive: Buffer, limits?: ExtractLimits, match?: RegExp) {
  const before = await snapshot();
  const target = path.join(parent, 'target');
  const err = await safeExtract(Readable.from([archive]), target, limits).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RolloutError);
  expect((err as RolloutError).reason).toBe('archive_refused');
  if (match) expect((err as RolloutError).message).toMatch(match);
  expect(existsSync(target)).toBe(false);
  expect(await snapshot()).toEqual(before);
  expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('untouched');
}

const refused = (spec: ArtifactSpec, limits?: ExtractLimits, match?: RegExp) => () =>
  expectRefused(tarGz(spec), limits, match);

// A legit prefix first, so refusals also prove earlier entries are rolled back.
const ok = { path: 'package.json', content: '{}' };

describe('safeExtract refuses hostile archives and writes nothing', () => {
  it('absolute path', refused([ok, { path: '/tmp/aether-pwned', content: 'x' }], undefined, /absolute/));
  it('../x', refused([ok, { path: '../x', content: 'x' }], undefined, /\.\./));
  it('a/../../x', refused([ok, { path: 'a/../../x', content: 'x' }], undefined, /\.\./));
  it(
    '.. hidden in a long path carried by a pax header',
    refused([ok, { path: `${'a/'.repeat(60)}${'../'.repeat(61)}pwned`, content: 'x' }], undefined, /\.\./),
  );
  it('symlink to /etc', refused([ok, { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' }]));
  it('symlink to ../../outside', refused([ok, { path: 'a/l', type: 'SymbolicLink', linkpath: '../../outside' }]));
  it('symlink then write through it (absolute link)', async () => {
    await expectRefused(
      tarGz([ok, { path: 'a', type: 'SymbolicLink', linkpath: outside }, { path: 'a/pwned', content: 'x' }]),
    );
    expect(existsSync(path.join(outside, 'pwned'))).toBe(false);
  });
  it(
    'symlink then write through it (inside link)',
    refused(
      [ok, { path: 'sub', type: 'Directory' }, { path: 'a', type: 'SymbolicLink', linkpath: 'sub' }, { path: 'a/x', content: 'x' }],
      undefined,
      /through symlink/,
    ),
  );
  it(
    'symlink lexically inside but physically outside (through another link)',
    refused(
      [
        ok,
        { path: 'd/e/s', type: 'SymbolicLink', linkpath: '..' },
        { path: 't', type: 'SymbolicLink', linkpath: 'd/e/s/../..' },
      ],
      undefined,
      /resolves outside/,
    ),
  );
  it('hard link outside (absolute)', () =>
    expectRefused(tarGz([ok, { path: 'h', type: 'Link', linkpath: path.join(outside, 'secret') }])));
  it('hard link outside (relative)', refused([ok, { path: 'h', type: 'Link', linkpath: '../outside/secret' }]));
  it('hard link to a file not in the archive', refused([ok, { path: 'h', type: 'Link', linkpath: 'nope' }], undefined, /hard link/));
  it('character device', refused([ok, { path: 'null', type: 'CharacterDevice', devmaj: 1, devmin: 3 }], undefined, /CharacterDevice/));
  it('block device', refused([ok, { path: 'sda', type: 'BlockDevice', devmaj: 8, devmin: 0 }]));
  it('fifo', refused([ok, { path: 'pipe', type: 'FIFO' }], undefined, /FIFO/));
  it('duplicate entry replacing a file with a symlink', refused([ok, { path: 'package.json', type: 'SymbolicLink', linkpath: 'x' }]));
  it(
    'too many entries',
    refused(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}`, 'x'])), { maxEntries: 5 }, /entries/),
  );
  it('too many bytes', refused([ok, { path: 'big', content: Buffer.alloc(4096, 1) }], { maxBytes: 1000 }, /bytes/));
  it('not a gzip tar', () => expectRefused(Buffer.from('definitely not an archive, just some bytes'.repeat(40))));
  it('truncated tar inside valid gzip', () => {
    const whole = tarBytes([ok, { path: 'f', content: Buffer.alloc(5000, 2) }]);
    return expectRefused(gzipSync(whole.subarray(0, 2048)), undefined, /Truncated/);
  });
  it('truncated gzip in the middle of a large streamed file', () => {
    const whole = tarGz([ok, { path: 'big', content: randomBytes(1024 * 1024) }]);
    return expectRefused(whole.subarray(0, 600 * 1024), undefined, /gzip/);
  });
  it('truncated gzip', () => {
    const whole = tarGz([ok, { path: 'f', content: randomBytes(5000) }]);
    return expectRefused(whole.subarray(0, whole.length - 100), undefined, /gzip/);
  });
});

describe('safeExtract refuses decompression bombs early, holding little in memory', () => {
  it('gzip bomb: 32 MiB of zeros in 32 KiB of gzip, over an 8 MiB limit', async () => {
    const bomb = tarGz([ok, { path: 'zeros', content: Buffer.alloc(32 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(64 * 1024);
    const heap = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    await expectRefused(bomb, { maxBytes: 8 * 1024 * 1024 }, /bytes uncompressed/);
    // Stops after ~8 MiB of output rather than inflating all 32 (generous: the box may be busy).
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(32 * 1024 * 1024);
  });

  it('a header claiming more than the default 1 GiB is refused before its body is read', async () => {
    const header = new Header({ path: 'huge', type: 'File', size: 3 * 1024 ** 3, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 });
    header.encode();
    // Only the header and 1 MiB of its claimed 3 GiB: a refusal, not a truncation error.
    const archive = gzipSync(Buffer.concat([tarBytes([ok]).subarray(0, 1024), header.block as Buffer, Buffer.alloc(1024 * 1024)]));
    await expectRefused(archive, undefined, /^archive refused: more than 1073741824 bytes uncompressed \(max_unpacked_bytes\)$/);
  });

  it('a pax extended header too large to be metadata', async () => {
    const pax = new Header({ path: 'PaxHeader/x', type: 'ExtendedHeader', size: 4 * 1024 * 1024, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 });
    pax.encode();
    // tar keeps pax data in memory and caps it at 1 MiB: over that it is ignored, i.e. refused here.
    const archive = gzipSync(Buffer.concat([pax.block as Buffer, Buffer.alloc(4 * 1024 * 1024, 0x61), Buffer.alloc(1024)]));
    await expectRefused(archive, undefined, /unsupported entry|not a valid tar/);
  });

  it('the same byte count spread over many files counts as a whole', () =>
    expectRefused(
      tarGz(Array.from({ length: 20 }, (_, i) => ({ path: `part${i}`, content: Buffer.alloc(512 * 1024) }))),
      { maxBytes: 8 * 1024 * 1024 },
      /bytes uncompressed/,
    ));
});

describe('safeExtract unpacks a legit tree', () => {
  it('keeps nested dirs, executable modes and internal relative symlinks', async () => {
    const target = path.join(parent, 'legit');
    const longName = `node_modules/${'deep/'.repeat(30)}file.txt`;
    const archive = tarGz([
      { path: './', type: 'Directory' },
      { path: 'package.json', content: '{"name":"x"}' },
      { path: 'node_modules/pkg/', type: 'Directory' },
      { path: 'node_modules/pkg/cli.js', content: '#!/usr/bin/env node\n', mode: 0o755 },
      { path: 'node_modules/.bin/pkg', type: 'SymbolicLink', linkpath: '../pkg/cli.js' },
      { path: 'node_modules/pkg/readme.md', type: 'Link', linkpath: 'node_modules/pkg/cli.js' },
      { path: 'a/b/c/d.txt', content: 'nested' },
      { path: longName, content: 'long' },
      { path: 'setuid', content: 's', mode: 0o4777 },
    ]);
    const result = await safeExtract(Readable.from([archive]), target);
    expect(result).toEqual({ files: 6, bytes: 12 + 20 + 6 + 4 + 1 });
    expect(await readFile(path.join(target, 'a/b/c/d.txt'), 'utf8')).toBe('nested');
    expect(await readFile(path.join(target, longName), 'utf8')).toBe('long');
    expect((await stat(path.join(target, 'node_modules/pkg/cli.js'))).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(target, 'package.json'))).mode & 0o777).toBe(0o644);
    expect((await stat(path.join(target, 'setuid'))).mode & 0o7777).toBe(0o755);
    expect(await readlink(path.join(target, 'node_modules/.bin/pkg'))).toBe('../pkg/cli.js');
    expect(await readFile(path.join(target, 'node_modules/.bin/pkg'), 'utf8')).toBe('#!/usr/bin/env node\n');
    expect((await stat(path.join(target, 'node_modules/pkg/readme.md'))).nlink).toBe(2);
    expect((await readdir(parent)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('streams a large archive arriving in small chunks', async () => {
    const files: Record<string, string | Buffer> = Object.fromEntries(
      Array.from({ length: 300 }, (_, i) => [`lib/f${i}.js`, `// ${i}\n`.repeat(50)]),
    );
    files['blob.bin'] = Buffer.alloc(3 * 1024 * 1024, 7);
    const archive = tarGz(files);
    const chunks = Array.from({ length: Math.ceil(archive.length / 997) }, (_, i) => archive.subarray(i * 997, (i + 1) * 997));
    const target = path.join(parent, 'chunked');
    const result = await safeExtract(Readable.from(chunks), target);
    expect(result.files).toBe(301);
    expect((await stat(path.join(target, 'blob.bin'))).size).toBe(3 * 1024 * 1024);
    expect(await readFile(path.join(target, 'lib/f299.js'), 'utf8')).toBe('// 299\n'.repeat(50));
  });

  it('accepts zero-filled files and stops reading at the tar EOF marker', async () => {
    const tar = tarBytes([{ path: 'zeros.bin', content: Buffer.alloc(8 * 1024 * 1024) }]);
    // 32 MiB of junk after EOF would be buffered in memory by a naive parser.
    const archive = gzipSync(Buffer.concat([tar, Buffer.alloc(32 * 1024 * 1024)]));
    const target = path.join(parent, 'zeros');
    expect(await safeExtract(Readable.from([archive]), target)).toEqual({ files: 1, bytes: 8 * 1024 * 1024 });
  });

  it('refuses to extract over an existing non-empty target', async () => {
    const target = path.join(parent, 'taken');
    await mkdir(target);
    await writeFile(path.join(target, 'keep'), 'k');
    await expect(safeExtract(Readable.from([tarGz({ a: 'b' })]), target)).rejects.toThrow();
    expect(await readdir(target)).toEqual(['keep']);
    expect((await readdir(parent)).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

describe('the unpacked-size cap (max_unpacked_bytes)', () => {
  it('refuses an archive over the cap with the message a deployment shows, leaving nothing', () =>
    expectRefused(
      tarGz([ok, { path: 'zeros', content: Buffer.alloc(2 * 1024 * 1024) }]),
      { maxBytes: 1024 * 1024 },
      /^archive refused: more than 1048576 bytes uncompressed \(max_unpacked_bytes\)$/,
    ));

  it('takes an archive exactly at the cap', async () => {
    const target = path.join(parent, 'at-cap');
    const files = [{ path: 'a', content: Buffer.alloc(1000, 1) }, { path: 'b', content: Buffer.alloc(24, 2) }];
    expect(await safeExtract(Readable.from([tarGz(files)]), target, { maxBytes: 1024 })).toEqual({ files: 2, bytes: 1024 });
    await rm(target, { recursive: true });
  });

  it('counts the bytes it writes, not what a header declared: a body longer than declared is refused', async () => {
    const root = await mkdtemp(path.join(sandbox, 'writer-'));
    const writer = new TreeWriter(root, 1024 * 1024);
    // Declared 300 KiB (streamed path), delivers 2 MiB: the count, not the header, stops it.
    const body = Readable.from(Array.from({ length: 32 }, () => Buffer.alloc(64 * 1024, 7)));
    const err = await writer.file('big', 0o644, body as never, 300 * 1024).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RolloutError);
    expect((err as RolloutError).message).toBe('archive refused: more than 1048576 bytes uncompressed (max_unpacked_bytes)');
    expect(writer.written).toBeGreaterThan(1024 * 1024);
    expect((await stat(path.join(root, 'big'))).size).toBeLessThanOrEqual(1024 * 1024);
  });
});
