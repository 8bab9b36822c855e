import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApi } from '../../cli/client';
import type { Output } from '../../cli/output';
import { uploadArtifact, type UploadArtifactOptions } from '../../cli/upload';
import { statePath } from '../../cli/upload/state';
import { artifactStorageKey } from '../../server/contract/digest';
import { sha256, tarBytes, tarGz } from '../support/artifacts';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { startTestS3, type TestS3 } from '../support/s3';
import { pollSettled } from '../support/staged-uploads';

/**
 * The CLI's uploader (cli/upload) in-process against a real control plane, on each storage
 * driver. Storage traffic goes through a small proxy of our own (in front of the plane's fs
 * URLs, or in front of the SigV4-checking S3 proxy) that records every request and can drop
 * PUTs, so part counts, headers and retries are observed on the wire.
 */

const MiB = 1024 * 1024;
const APP = 'uploader';

/** What the proxy does with the n-th PUT it sees (1-based): pass it on, cut it, sit on it. */
type PutRule = (n: number) => 'forward' | 'drop' | 'hold' | { delayMs: number };

interface Flaky {
  url: string;
  target: string;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }>;
  /** Status codes storage answered to PUTs, in order. */
  putStatuses: number[];
  /** Applies `rule` to PUTs from now on, counting them from 1. */
  onPut(rule: PutRule): void;
  stop(): Promise<void>;
}

const FORWARD: PutRule = () => 'forward';

async function startFlakyProxy(): Promise<Flaky> {
  let puts = 0;
  let rule = FORWARD;
  const flaky: Flaky = {
    url: '',
    target: '',
    requests: [],
    putStatuses: [],
    onPut(r) {
      rule = r;
      puts = 0;
    },
    stop: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const target = new URL(flaky.target);
    const out = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (req.method === 'PUT') flaky.putStatuses.push(answer.statusCode ?? 0);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.once('error', () => res.destroy());
    req.pipe(out);
  };
  const server = createServer((req, res) => {
    flaky.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const action = req.method === 'PUT' ? rule(++puts) : 'forward';
    if (action === 'drop') return void req.socket.destroy();
    if (action === 'hold') return;
    if (action === 'forward') return forward(req, res);
    setTimeout(() => forward(req, res), action.delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  flaky.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return flaky;
}

/** A control plane whose presigned storage URLs point at `flaky` (its public URL on fs, its S3 endpoint on s3). */
async function planeBehind(flaky: Flaky, s3: TestS3 | undefined, extra: Record<string, string> = {}): Promise<TestPlane> {
  if (s3) flaky.target = s3.endpoint;
  const env: Record<string, string> = s3 ? { ...s3.env, AETHER_S3_ENDPOINT_URL: flaky.url } : { AETHER_PUBLIC_URL: flaky.url };
  const plane = await startTestPlane('postgres', { ...env, ...extra });
  if (!s3) flaky.target = plane.url;
  return plane;
}

function captureOutput() {
  const lines: Array<{ level: string; msg: string }> = [];
  const out: Output = {
    log: (level, msg) => void lines.push({ level, msg }),
    info: (msg) => void lines.push({ level: 'info', msg }),
    warn: (msg) => void lines.push({ level: 'warn', msg }),
    result: () => undefined,
    json: () => undefined,
  };
  return { out, lines };
}

/** A tar.gz of incompressible bytes: its size is about `bytes`. */
const bigArtifact = (bytes: number) => gzipSync(tarBytes({ 'package.json': '{"name":"big"}', 'blob.bin': randomBytes(bytes) }), { level: 1 });

async function streamSha(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const puts = (f: Flaky) => f.requests.filter((r) => r.method === 'PUT');

describe.each(['fs', 's3'] as const)('cli uploader over the %s driver', (driver) => {
  let plane: TestPlane;
  let s3: TestS3 | undefined;
  let flaky: Flaky;
  let dir: string;
  let workers = false;
  const traceId = randomUUID();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aether-upload-'));
    flaky = await startFlakyProxy();
    if (driver === 's3') {
      s3 = await startTestS3();
      // The control plane's S3 client takes credentials from the AWS default chain.
      vi.stubEnv('AWS_ACCESS_KEY_ID', s3.credentials.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.credentials.secretAccessKey);
    }
    plane = await planeBehind(flaky, s3);
    await plane.caller('deployer').apps.create({ name: APP });
  });
  afterAll(async () => {
    await plane?.close();
    await s3?.stop();
    await flaky?.stop();
    await rm(dir, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });
  afterEach(() => {
    // Every presigned request the store saw was signed right (the S3 proxy checks SigV4).
    expect(s3?.refusals ?? []).toEqual([]);
    flaky.requests.length = 0;
    flaky.onPut(FORWARD);
  });

  /** Stored needs the verify worker; started lazily so the first test can see `verifying`. */
  function settle(digest: string) {
    if (!workers) plane.startWorkers();
    workers = true;
    return pollSettled(plane, APP, digest, 30_000);
  }

  async function storedSha(digest: string): Promise<string> {
    return streamSha(await plane.services.storage.openRead(artifactStorageKey(APP, digest)));
  }

  async function artifactFile(bytes: Buffer) {
    const digest = sha256(bytes);
    const file = path.join(dir, `app-${digest}.tar.gz`);
    await writeFile(file, bytes);
    return { file, digest, sizeBytes: bytes.length };
  }

  const env = (extra: Record<string, string> = {}) => ({
    XDG_CACHE_HOME: path.join(dir, 'cache'),
    AETHER_MULTIPART_THRESHOLD_BYTES: String(5 * MiB),
    AETHER_MULTIPART_PART_SIZE_BYTES: String(5 * MiB),
    ...extra,
  });

  function upload(a: { file: string; digest: string; sizeBytes: number }, extra: Partial<UploadArtifactOptions> = {}) {
    const { out, lines } = captureOutput();
    const run = uploadArtifact({
      api: createApi({ apiBase: plane.url, token: TOKENS.deployer }),
      apiBase: plane.url,
      app: APP,
      ...a,
      env: env(),
      out,
      format: 'text',
      traceId,
      progressStream: new PassThrough(),
      retry: { baseMs: 20, maxMs: 200 },
      ...extra,
    });
    return { run, lines };
  }

  /** Trace ids go to our own storage URLs only: adding an unsigned header to SigV4 URLs is not ours to do. */
  function expectTraceHeaders() {
    for (const r of puts(flaky)) expect(r.headers['x-trace-id']).toBe(driver === 'fs' ? traceId : undefined);
  }

  it('a verifying artifact counts as present: no second upload on either path', async () => {
    // Verification in a job (as when it needs a download), so the artifact stays verifying a while.
    plane.services.env.AETHER_VERIFY_INLINE = false;
    try {
      const a = await artifactFile(tarGz({ 'package.json': '{"name":"v"}', 'index.js': `// ${randomUUID()}` }));
      expect(await upload(a).run).toMatchObject({ uploaded: true, method: 'single' });
      const status = (await plane.caller('reader').artifacts.get({ app_name: APP, digest: a.digest })).status;
      expect(workers ? ['verifying', 'stored'] : ['verifying']).toContain(status);
      flaky.requests.length = 0;
      expect(await upload(a).run).toEqual({ uploaded: false, method: 'none', bytes: 0, durationMs: 0 });
      expect(await upload(a, { env: env({ AETHER_MULTIPART_THRESHOLD_BYTES: '1' }) }).run).toMatchObject({ uploaded: false, method: 'none' });
      expect(puts(flaky)).toHaveLength(0);
      expect(await settle(a.digest)).toMatchObject({ status: 'stored' });
    } finally {
      plane.services.env.AETHER_VERIFY_INLINE = true;
    }
  });

  it('a stored artifact is present at once: complete verified it, no second upload', async () => {
    const a = await artifactFile(tarGz({ 'package.json': '{"name":"s"}', 'index.js': `// ${randomUUID()}` }));
    expect(await upload(a).run).toMatchObject({ uploaded: true, method: 'single' });
    expect((await plane.caller('reader').artifacts.get({ app_name: APP, digest: a.digest })).status).toBe('stored');
    flaky.requests.length = 0;
    expect(await upload(a).run).toEqual({ uploaded: false, method: 'none', bytes: 0, durationMs: 0 });
    expect(puts(flaky)).toHaveLength(0);
  });

  it('uploads a small artifact in one streamed PUT with Content-Length and the presigned headers', async () => {
    const bytes = tarGz({ 'package.json': '{"name":"small"}', 'index.js': `console.log(${JSON.stringify(randomUUID())})` });
    const a = await artifactFile(bytes);
    const result = await upload(a).run;
    expect(result).toMatchObject({ uploaded: true, method: 'single', bytes: bytes.length });
    const [put] = puts(flaky);
    expect(puts(flaky)).toHaveLength(1);
    expect(put!.headers['content-length']).toBe(String(bytes.length));
    expect(put!.headers['transfer-encoding']).toBeUndefined();
    expect(put!.headers['x-amz-meta-sha256']).toBe(a.digest);
    expectTraceHeaders();
    expect(await settle(a.digest)).toMatchObject({ status: 'stored', size_bytes: bytes.length });
    expect(await storedSha(a.digest)).toBe(a.digest);
  });

  it('uploads 12 MiB as 3 parallel parts of 5 MiB, logs progress, and stores identical bytes', async () => {
    const a = await artifactFile(bigArtifact(12 * MiB));
    const { run, lines } = upload(a);
    const result = await run;
    expect(result).toMatchObject({ uploaded: true, method: 'multipart', bytes: a.sizeBytes });
    expect(puts(flaky)).toHaveLength(3);
    for (const r of puts(flaky)) expect(r.headers['transfer-encoding']).toBeUndefined();
    expectTraceHeaders();
    // Not a TTY: plain lines, then the throughput summary.
    expect(lines.filter((l) => l.msg.startsWith('uploading: ')).length).toBeGreaterThanOrEqual(3);
    expect(lines.at(-1)?.msg).toMatch(/^uploaded 12\.\d MiB in [\d.]+ s \([\d.]+ MiB\/s\) in 3 parts of 5 MiB, 4 at a time$/);
    await expect(stat(statePath(env(), a.digest))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await settle(a.digest)).toMatchObject({ status: 'stored', size_bytes: a.sizeBytes });
    expect(await storedSha(a.digest)).toBe(a.digest);
    // Stored now: both paths skip, without a single PUT.
    flaky.requests.length = 0;
    expect(await upload(a).run).toMatchObject({ uploaded: false, method: 'none' });
    expect(await upload(a, { env: env({ AETHER_MULTIPART_THRESHOLD_BYTES: '0' }) }).run).toMatchObject({ uploaded: false, method: 'none' });
    expect(puts(flaky)).toHaveLength(0);
    if (s3) expect(s3.requests.filter((r) => r.method === 'PUT' && r.url.includes(a.digest))).toHaveLength(3);
  });

  /** Runs a multipart upload one part at a time and aborts it (Ctrl-C) when part 2 goes out. */
  async function interruptAfterFirstPart(a: { file: string; digest: string; sizeBytes: number }) {
    const ctl = new AbortController();
    // Part 1 is saved before part 2 starts: hold part 2 on the wire and press Ctrl-C.
    flaky.onPut((n) => (n === 2 ? (ctl.abort(), 'hold') : 'forward'));
    await expect(upload(a, { signal: ctl.signal, env: env({ AETHER_UPLOAD_CONCURRENCY: '1' }) }).run).rejects.toMatchObject({
      exitCode: 20,
      code: 'interrupted',
    });
    flaky.onPut(FORWARD);
    const file = statePath(env(), a.digest);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const state = JSON.parse(await readFile(file, 'utf8')) as { upload_id: string; parts: Record<string, string>; part_size: number; api_base: string };
    expect({ parts: Object.keys(state.parts), part_size: state.part_size, api_base: state.api_base }).toEqual({ parts: ['1'], part_size: 5 * MiB, api_base: plane.url });
    flaky.requests.length = 0;
    return state;
  }

  it('resumes after Ctrl-C: the rerun sends only the missing parts', async () => {
    const a = await artifactFile(bigArtifact(12 * MiB));
    await interruptAfterFirstPart(a);
    const { run, lines } = upload(a, { format: 'json' });
    expect(await run).toMatchObject({ uploaded: true, method: 'multipart', bytes: a.sizeBytes - 5 * MiB });
    expect(puts(flaky)).toHaveLength(2);
    // JSON mode: real log records only, no progress lines.
    expect(lines.filter((l) => l.msg.startsWith('uploading: '))).toEqual([]);
    expect(lines.some((l) => l.msg.startsWith('resuming upload '))).toBe(true);
    await expect(stat(statePath(env(), a.digest))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await settle(a.digest)).toMatchObject({ status: 'stored' });
    expect(await storedSha(a.digest)).toBe(a.digest);
  });

  it('starts over cleanly when the server no longer knows the saved upload', async () => {
    const a = await artifactFile(bigArtifact(12 * MiB));
    const state = await interruptAfterFirstPart(a);
    await plane.caller('deployer').artifacts.multipartAbort({ app_name: APP, digest: a.digest, upload_id: state.upload_id });
    const { run, lines } = upload(a);
    expect(await run).toMatchObject({ uploaded: true, method: 'multipart', bytes: a.sizeBytes });
    expect(puts(flaky)).toHaveLength(3);
    expect(lines.some((l) => l.level === 'warn' && l.msg.includes('starting over'))).toBe(true);
    expect(await settle(a.digest)).toMatchObject({ status: 'stored' });
    expect(await storedSha(a.digest)).toBe(a.digest);
  });

  it('retries a part whose first PUT lost its connection', async () => {
    const a = await artifactFile(bigArtifact(12 * MiB));
    flaky.onPut((n) => (n === 1 ? 'drop' : 'forward'));
    expect(await upload(a).run).toMatchObject({ uploaded: true, method: 'multipart' });
    expect(puts(flaky)).toHaveLength(4);
    expect(await settle(a.digest)).toMatchObject({ status: 'stored' });
    expect(await storedSha(a.digest)).toBe(a.digest);
  });

  it('exits 40 when storage stays unreachable, keeping the state for the next run', async () => {
    const a = await artifactFile(bigArtifact(12 * MiB));
    flaky.onPut(() => 'drop');
    await expect(upload(a, { retry: { attempts: 2, baseMs: 10, maxMs: 20 } }).run).rejects.toMatchObject({ exitCode: 40 });
    expect(JSON.parse(await readFile(statePath(env(), a.digest), 'utf8'))).toMatchObject({ digest: a.digest, parts: {} });
    flaky.onPut(FORWARD);
    expect(await upload(a).run).toMatchObject({ uploaded: true, method: 'multipart' });
    expect(await settle(a.digest)).toMatchObject({ status: 'stored' });
  });

  it('presigns again once when the URL expired before the PUT', async () => {
    // A second plane on the same storage whose URLs live 2 s; its proxy holds the first PUT 3 s.
    const slow = await startFlakyProxy();
    // No clock-skew grace: the fs store would otherwise take the URL for 30 s past its expiry.
    const short = await planeBehind(slow, s3, { AETHER_PRESIGN_EXPIRE_SECS: '2', AETHER_PRESIGN_SKEW_SECS: '0' });
    try {
      await short.caller('deployer').apps.create({ name: APP });
      const a = await artifactFile(tarGz({ 'package.json': '{"name":"late"}', 'index.js': `// ${randomUUID()}` }));
      slow.onPut((n) => (n === 1 ? { delayMs: 3_000 } : 'forward'));
      const result = await upload(a, { api: createApi({ apiBase: short.url, token: TOKENS.deployer }), apiBase: short.url }).run;
      expect(result).toMatchObject({ uploaded: true, method: 'single' });
      expect(slow.putStatuses).toEqual([403, 200]);
      expect((await short.caller('reader').artifacts.get({ app_name: APP, digest: a.digest })).status).not.toBe('pending');
      if (s3) expect(s3.refusals.splice(0)).toEqual(['Request has expired']);
    } finally {
      await short.close();
      await slow.stop();
    }
  });
});

describe('cli uploader failures before any upload', () => {
  const self = fileURLToPath(import.meta.url);
  const base = {
    app: APP,
    file: self,
    digest: 'a'.repeat(64),
    format: 'json' as const,
    traceId: randomUUID(),
    out: captureOutput().out,
    retry: { attempts: 3, baseMs: 10, maxMs: 20 },
  };

  it('exits 40 when the control plane is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const apiBase = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const sizeBytes = (await stat(self)).size;
    for (const threshold of ['0', '1']) {
      const run = uploadArtifact({ ...base, api: createApi({ apiBase, token: 't' }), apiBase, sizeBytes, env: { AETHER_MULTIPART_THRESHOLD_BYTES: threshold, XDG_CACHE_HOME: os.tmpdir() } });
      await expect(run).rejects.toMatchObject({ name: 'CliError', exitCode: 40 });
    }
  });

  it('refuses a part size below 5 MiB as a usage error', async () => {
    const run = uploadArtifact({
      ...base,
      api: createApi({ apiBase: 'http://127.0.0.1:9', token: 't' }),
      apiBase: 'http://127.0.0.1:9',
      sizeBytes: 1,
      env: { AETHER_MULTIPART_PART_SIZE_BYTES: String(4 * MiB) },
    });
    await expect(run).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/AETHER_MULTIPART_PART_SIZE_BYTES=4194304 is invalid: .*5 MiB/) });
  });
});
