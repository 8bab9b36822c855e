import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { vi } from 'vitest';
import { buildS3TestServer } from './fauxqs';

/**
 * A real S3-compatible server for tests: fauxqs (in-process, in memory) on 127.0.0.1 and a free
 * port, behind a small proxy that checks presigned URLs the way S3 does (SigV4 signature over
 * the signed headers, expiry), because fauxqs checks neither. Requests signed in the
 * Authorization header (the SDK's own calls) pass through unchecked.
 *
 * fauxqs keeps whole bodies in memory: keep objects small (its 11 MiB cap is lifted to S3's
 * limit, see ./fauxqs.ts).
 */
export interface TestS3 {
  /** The proxy's URL: give it to the driver as `endpoint`. */
  endpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The environment a control plane needs to use this store (`AETHER_STORAGE_MODE=s3`...). */
  env: Record<string, string>;
  /** Presigned requests the proxy refused, with the reason: for assertions. */
  refusals: string[];
  /** Every request that reached the proxy (method, path and query, headers), oldest first. */
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }>;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';

/**
 * The store a control plane on `storage` needs: on 's3', a started TestS3 whose credentials are
 * stubbed into the env (the plane's S3 client takes them from the AWS default chain); on 'fs', null.
 * Give `s3?.env` to the plane, and `s3?.stop()` in afterAll.
 */
export async function startStoreFor(storage: 'fs' | 's3'): Promise<TestS3 | null> {
  if (storage !== 's3') return null;
  const s3 = await startTestS3();
  vi.stubEnv('AWS_ACCESS_KEY_ID', s3.credentials.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.credentials.secretAccessKey);
  return s3;
}

/** Starts fauxqs and the checking proxy, and creates a bucket unique to the caller. */
export async function startTestS3(opts: { bucket?: string } = {}): Promise<TestS3> {
  const credentials = { accessKeyId: 'AKIATESTAETHER', secretAccessKey: randomUUID() };
  const fauxqs = buildS3TestServer();
  const upstream = new URL(await fauxqs.listen({ port: 0, host: '127.0.0.1' }));
  const refusals: string[] = [];
  const requests: TestS3['requests'] = [];

  const proxy = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const refusal = checkPresigned(req, credentials.secretAccessKey);
    if (refusal !== null) {
      refusals.push(refusal);
      // Drain first: an unread body would leave a keep-alive client waiting.
      req.resume();
      req.once('end', () => refuse(res, refusal));
      return;
    }
    forward(req, res, upstream);
  });
  await new Promise<void>((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(0, '127.0.0.1', resolve);
  });
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const bucket = opts.bucket ?? `aether-test-${randomUUID().slice(0, 8)}`;
  const admin = new S3Client({ endpoint, region: REGION, forcePathStyle: true, credentials });
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  admin.destroy();

  return {
    endpoint,
    bucket,
    region: REGION,
    credentials,
    refusals,
    requests,
    env: {
      AETHER_STORAGE_MODE: 's3',
      AETHER_ARTIFACT_BUCKET: bucket,
      AETHER_S3_ENDPOINT_URL: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    async stop() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await fauxqs.close();
    },
  };
}

function forward(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
  const out = httpRequest(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  out.once('error', () => res.destroy());
  req.pipe(out);
}

function refuse(res: ServerResponse, message: string): void {
  const code = message === 'Request has expired' ? 'AccessDenied' : 'SignatureDoesNotMatch';
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(403, { 'content-type': 'application/xml', connection: 'close' }).end(xml);
}

/**
 * Checks a query-signed (presigned) SigV4 request: null when it verifies or is not presigned,
 * else why not. Follows AWS's canonical request for S3: path as sent, sorted query without the
 * signature, the signed headers' trimmed values, UNSIGNED-PAYLOAD.
 */
export function checkPresigned(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, secretAccessKey: string, now = Date.now()): string | null {
  const url = new URL(req.url ?? '/', 'http://placeholder');
  const q = url.searchParams;
  const signature = q.get('X-Amz-Signature');
  if (signature === null) return null;
  const credential = q.get('X-Amz-Credential') ?? '';
  const amzDate = q.get('X-Amz-Date') ?? '';
  const signedHeaders = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
  const [, date, region, service] = credential.split('/');
  const when = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!date || !region || !service || !when) return 'Malformed presigned URL';

  const canonicalQuery = [...q.entries()]
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => [rfc3986(name), rfc3986(value)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? cmp(av, bv) : cmp(a, b)))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const headerLines: string[] = [];
  for (const name of signedHeaders) {
    const value = req.headers[name];
    if (value === undefined) return `Signed header ${name} was not sent`;
    headerLines.push(`${name}:${String(value).trim().replace(/\s+/g, ' ')}\n`);
  }
  const canonicalRequest = [
    req.method,
    url.pathname,
    canonicalQuery,
    headerLines.join(''),
    signedHeaders.join(';'),
    q.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const key = [date, region, service, 'aws4_request'].reduce<Buffer>(
    (k, part) => createHmac('sha256', k).update(part).digest(),
    Buffer.from(`AWS4${secretAccessKey}`),
  );
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  const given = /^[0-9a-f]{64}$/.test(signature) ? Buffer.from(signature, 'hex') : Buffer.alloc(0);
  if (given.length !== 32 || !timingSafeEqual(expected, given)) return 'The request signature we calculated does not match the signature you provided';

  const [, y, mo, d, h, mi, s] = when.map(Number);
  const signedAt = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  if (now >= signedAt + Number(q.get('X-Amz-Expires') ?? 0) * 1000) return 'Request has expired';
  return null;
}

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
