import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFetchArtifact } from '../../docker/runtime/build-fetch-artifact.mjs';
import { decodeTerminationMessage, FETCH_EXIT } from '../../server/runtime/kubernetes/fetch-protocol';
import { sha256, tarBytes, tarGz, type ArtifactSpec } from '../support/artifacts';

// The init container's program, bundled exactly as the runtime image gets it, run as a real
// process against a local HTTP server playing the control plane's /runtime/artifacts route.

const TOKEN = 'f'.repeat(64);
let sandbox: string;
let bundle: string;
let server: Server;
let base: string;
const blobs = new Map<string, Buffer>();
const seen: Array<{ path: string; auth: string | undefined }> = [];
let failuresLeft = 0;

beforeAll(async () => {
  sandbox = await mkdtemp(path.join(tmpdir(), 'aether-fetch-'));
  bundle = await buildFetchArtifact(path.join(sandbox, 'bin', 'fetch-artifact.mjs'));
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ path: url.pathname, auth: req.headers.authorization });
    if (url.pathname.startsWith('/blob/')) {
      // The presigned side: authorised by its URL; a token here would be a leak.
      const blob = blobs.get(url.pathname.slice(6));
      return blob ? res.end(blob) : void res.writeHead(404).end();
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end('{"code":"unauthorized"}');
    const [, , kind, name] = url.pathname.split('/');
    if (kind === 'flaky' && failuresLeft-- > 0) return void res.writeHead(503).end('restarting');
    if (kind === 'redirect') return void res.writeHead(302, { location: `/blob/${name}?X-Signature=secret` }).end();
    const blob = blobs.get(name ?? '');
    return blob ? res.end(blob) : void res.writeHead(404).end('{"code":"not_found"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  server?.close();
  await rm(sandbox, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  output: string;
  message: ReturnType<typeof decodeTerminationMessage>;
  appDir: string;
  podDir: string;
}

/** Serves `bytes` under a fresh name and runs the program in a fresh "pod" directory. */
async function run(bytes: Buffer, opts: { digest?: string; route?: string; env?: Record<string, string>; podDir?: string } = {}): Promise<Run> {
  const name = `a${blobs.size}`;
  blobs.set(name, bytes);
  const podDir = opts.podDir ?? (await mkdtemp(path.join(sandbox, 'pod-')));
  const volume = path.join(podDir, 'app');
  await mkdir(volume, { recursive: true });
  const termination = path.join(podDir, 'termination-log');
  const appDir = path.join(volume, 'release');
  const child = spawn(process.execPath, [bundle], {
    env: {
      NODE_ENV: 'production', // as the runtime image sets it
      AETHER_FETCH_URL: `${base}/runtime/${opts.route ?? 'artifacts'}/${name}`,
      AETHER_FETCH_TOKEN: TOKEN,
      AETHER_DIGEST: opts.digest ?? sha256(bytes),
      AETHER_APP_DIR: appDir,
      AETHER_TERMINATION_LOG: termination,
      ...opts.env,
    },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const message = decodeTerminationMessage(await readFile(termination, 'utf8').catch(() => null));
  return { code, output, message, appDir, podDir };
}

/** Everything under `dir`: "nothing written outside" is equality of two of these. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const p = path.join(dir, name);
    const s = await lstat(p);
    out.push(`${path.relative(sandbox, p)} ${s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : 'f'}`);
    if (s.isDirectory()) out.push(...(await tree(p)));
  }
  return out;
}

const app: ArtifactSpec = {
  'package.json': JSON.stringify({ name: 'web', scripts: { start: 'node index.js' } }),
  'index.js': 'console.log("hi")',
};

describe('fetch-artifact.mjs', () => {
  it('fetches, verifies and unpacks a good archive, reporting its phases; a restart reuses it', async () => {
    const r = await run(tarGz(app));
    expect(r.code).toBe(FETCH_EXIT.ok);
    expect(await readFile(path.join(r.appDir, 'index.js'), 'utf8')).toBe('console.log("hi")');
    expect(r.message).toMatchObject({ ok: true });
    expect(r.message?.ok && r.message.phases.map((p) => p.phase)).toEqual(['fetch', 'verify', 'unpack']);
    // Only the tree and the digest marker are left in the volume (no archive, no temp dir).
    expect((await readdir(path.dirname(r.appDir))).sort()).toEqual(['.aether-digest', 'release']);

    const requests = seen.length;
    const again = await run(tarGz(app), { podDir: r.podDir });
    expect(again.code).toBe(FETCH_EXIT.ok);
    expect(again.output).toContain('already unpacked');
    expect(seen.length).toBe(requests);
  });

  it('refuses bytes whose sha256 is not the expected digest, unpacking nothing', async () => {
    const r = await run(tarGz(app), { digest: 'e'.repeat(64) });
    expect(r.code).toBe(FETCH_EXIT.digest_mismatch);
    expect(r.message).toMatchObject({ ok: false, outcome: 'digest_mismatch' });
    expect(existsSync(r.appDir)).toBe(false);
    expect(await readdir(path.dirname(r.appDir))).toEqual([]);
  });

  const hostile: Array<[string, Buffer]> = [
    ['../x', tarGz([{ path: 'package.json', content: '{}' }, { path: '../x', content: 'pwned' }])],
    ['absolute path', tarGz([{ path: 'package.json', content: '{}' }, { path: '/tmp/aether-fetch-pwned', content: 'pwned' }])],
    ['symlink escape', tarGz([{ path: 'l', type: 'SymbolicLink', linkpath: '../../outside' }, { path: 'l/pwned', content: 'x' }])],
    ['hardlink escape', tarGz([{ path: 'h', type: 'Link', linkpath: '../../outside/secret' }])],
    ['device file', tarGz([{ path: 'dev', type: 'CharacterDevice', devmaj: 1, devmin: 3 }])],
    // 16 MiB of zeros in ~16 KiB: over the 1 MiB limit given to the program.
    ['decompression bomb', gzipSync(tarBytes([{ path: 'bomb', content: Buffer.alloc(16 * 1024 * 1024) }]), { level: 9 })],
  ];
  it.each(hostile)('refuses a hostile archive (%s) and writes nothing outside the target', async (_label, bytes) => {
    const outside = path.join(sandbox, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'secret'), 'untouched');
    const before = await tree(sandbox);
    const r = await run(bytes, { env: { AETHER_MAX_UNPACKED_BYTES: String(1024 * 1024) } });
    expect(r.code).toBe(FETCH_EXIT.archive_refused);
    expect(r.message).toMatchObject({ ok: false, outcome: 'archive_refused' });
    expect(existsSync(r.appDir)).toBe(false);
    // The run added only its pod dir, holding an empty volume and the termination log.
    const added = (await tree(sandbox)).filter((l) => !before.includes(l));
    const pod = path.relative(sandbox, r.podDir);
    expect(added.sort()).toEqual([`${pod} d`, `${pod}/app d`, `${pod}/termination-log f`]);
    expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('untouched');
    expect(existsSync('/tmp/aether-fetch-pwned')).toBe(false);
  });

  it('refuses an artifact with nothing to start', async () => {
    const r = await run(tarGz({ 'package.json': '{"name":"x"}', 'lib.js': '' }));
    expect(r.code).toBe(FETCH_EXIT.no_start_command);
    expect(r.message).toMatchObject({ ok: false, outcome: 'no_start_command' });
  });

  it('follows the redirect to storage without the token, and retries a restarting control plane', async () => {
    const bytes = tarGz(app);
    const redirected = await run(bytes, { route: 'redirect' });
    expect(redirected.code).toBe(FETCH_EXIT.ok);
    const blobHits = seen.filter((s) => s.path.startsWith('/blob/'));
    expect(blobHits.length).toBeGreaterThan(0);
    expect(blobHits.every((s) => s.auth === undefined)).toBe(true);
    expect(redirected.output).not.toContain('X-Signature=secret');

    failuresLeft = 1;
    const flaky = await run(bytes, { route: 'flaky' });
    expect(flaky.code).toBe(FETCH_EXIT.ok);
  });

  it('fails with fetch_failed on a refused token, without printing the token', async () => {
    const r = await run(tarGz(app), { env: { AETHER_FETCH_TOKEN: '0'.repeat(64) } });
    expect(r.code).toBe(FETCH_EXIT.fetch_failed);
    expect(r.message).toMatchObject({ ok: false, outcome: 'fetch_failed' });
    expect(r.message?.ok === false && r.message.message).toContain('HTTP 401');
    expect(r.output).not.toContain('0'.repeat(64));
    const ok = await run(tarGz(app));
    expect(ok.output).not.toContain(TOKEN);
  });
});
