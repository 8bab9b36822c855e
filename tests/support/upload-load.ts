/**
 * A load generator for the upload flow, run as its own process (`node --import tsx
 * tests/support/upload-load.ts`, config in UPLOAD_LOAD as JSON) so it never shares an event
 * loop with the server it measures. Each of `clients` clients runs, `rounds` times, what the
 * CLI runs over the seed's REST: presign -> PUT to the presigned URL -> POST
 * /artifacts/complete -> long-poll the artifact until it settles. Bodies and digests are made
 * before the clock starts. Prints one JSON line: client-side timings (ms) and failures.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';

export interface UploadLoadConfig {
  url: string;
  token: string;
  app: string;
  clients: number;
  rounds: number;
  sizeBytes: number;
}

export interface UploadLoadResult {
  presign: number[];
  put: number[];
  complete: number[];
  /** Complete answered -> the long-poll sees a final status. */
  settle: number[];
  failures: string[];
  wallMs: number;
}

// node:http with keep-alive is several times cheaper per request than fetch: less of the
// machine's 2 cores goes to the load generator.
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function call(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  return [await fn(), performance.now() - t0];
}

async function uploadOnce(cfg: UploadLoadConfig, bytes: Buffer, out: UploadLoadResult): Promise<void> {
  const digest = createHash('sha256').update(bytes).digest('hex');
  const json = { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' };
  const ok = (step: string, r: { status: number; body: string }) => {
    if (r.status < 200 || r.status > 299) throw new Error(`${step} ${r.status} ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body || '{}') as Record<string, unknown>;
  };
  const [presigned, presignMs] = await timed(() =>
    call(
      'POST',
      `${cfg.url}/artifacts/presign`,
      json,
      JSON.stringify({ app_name: cfg.app, digest, size_bytes: bytes.length }),
    ),
  );
  const target = ok('presign', presigned) as { upload_url: string; headers: Record<string, string> };
  const [put, putMs] = await timed(() =>
    call('PUT', target.upload_url, { ...target.headers, 'content-length': String(bytes.length) }, bytes),
  );
  ok('PUT', put);
  const [completed, completeMs] = await timed(() =>
    call(
      'POST',
      `${cfg.url}/artifacts/complete`,
      json,
      JSON.stringify({ app_name: cfg.app, digest, size_bytes: bytes.length }),
    ),
  );
  ok('complete', completed);
  const [settled, settleMs] = await timed(() =>
    call('GET', `${cfg.url}/apps/${cfg.app}/artifacts/${digest}/wait?timeout_ms=20000`, json),
  );
  const status = (ok('wait', settled) as { status?: string }).status;
  if (status !== 'stored') throw new Error(`${digest.slice(0, 12)} ended ${status}`);
  out.presign.push(presignMs);
  out.put.push(putMs);
  out.complete.push(completeMs);
  out.settle.push(settleMs);
}

export async function runUploadLoad(cfg: UploadLoadConfig): Promise<UploadLoadResult> {
  const bodies = Array.from({ length: cfg.clients }, () =>
    Array.from({ length: cfg.rounds }, () => randomBytes(cfg.sizeBytes)),
  );
  const out: UploadLoadResult = { presign: [], put: [], complete: [], settle: [], failures: [], wallMs: 0 };
  const t0 = performance.now();
  await Promise.all(
    bodies.map(async (rounds) => {
      for (const bytes of rounds)
        await uploadOnce(cfg, bytes, out).catch((err: unknown) => out.failures.push(String(err)));
    }),
  );
  out.wallMs = performance.now() - t0;
  return out;
}

if (process.env.UPLOAD_LOAD) {
  const result = await runUploadLoad(JSON.parse(process.env.UPLOAD_LOAD) as UploadLoadConfig);
  agent.destroy();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
