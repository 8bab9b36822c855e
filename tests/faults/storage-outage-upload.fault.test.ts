import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { startRequestTap, unexpectedAnswers, type RequestTap } from '../support/request-tap';
import { startTestS3, type TestS3 } from '../support/s3';
import { startTcpForwarder, type TcpForwarder } from '../support/tcp-forwarder';
import { artifactRows, deploymentRows, serverErrors, settledRows } from './fault-checks';
import { makeCliHome, MiB, MULTIPART_ENV, restoreOnceSaid, startCli, waitFor, type CliHome } from './fault-cli';
import { startFaultPlane, type FaultPlane } from './fault-plane';

const DEPLOY = ['deploy', '--no-install', '--no-sbom', '--detach', '--format', 'json'];
const DIGEST = 'cd'.repeat(32);

/**
 * Object storage unreachable during a multipart upload. The test S3 server (fauxqs) keeps
 * objects in memory only, so killing and restarting it would lose every object and upload,
 * which a real S3 restart does not. What is cut here instead is the network path: a TCP
 * forwarder between the store and everyone using it (the control plane's SDK calls and the
 * CLI's presigned PUTs), refusing connections while the store process stays up.
 */
describe('the network path to object storage cut during a multipart upload', () => {
  let s3: TestS3;
  let s3Link: TcpForwarder;
  let fp: FaultPlane;
  let tap: RequestTap;
  let home: CliHome;

  beforeAll(async () => {
    s3 = await startTestS3();
    s3Link = await startTcpForwarder({ host: '127.0.0.1', port: Number(new URL(s3.endpoint).port) });
    tap = await startRequestTap();
    fp = await startFaultPlane({ env: { ...s3.env, AETHER_S3_ENDPOINT_URL: `http://127.0.0.1:${s3Link.port}` } });
    tap.target = fp.plane.url;
    // ~17 MiB: four parts of 5 MiB, one at a time.
    home = await makeCliHome(tap.url, { name: 'objects', blobBytes: 17 * MiB });
  });
  afterAll(async () => {
    await fp?.close();
    await tap?.close();
    await s3Link?.close();
    await s3?.stop();
    await home?.close();
  });
  beforeEach(() =>
    onTestFailed(() => console.log(`control plane output:\n${fp.plane.output().split('\n').slice(-40).join('\n')}`)),
  );

  it('storage calls are 503s; the CLI gives up its parts, resumes, and waits out a second cut at complete', async () => {
    // Part URLs are presigned one batch ahead: the second batch (part 3) is asked for as part 2's PUT starts.
    let presigns = 0;
    const cut = tap.before(
      (r) => r.path === '/api/trpc/artifacts.multipartPresignParts' && ++presigns === 2,
      () => s3Link.cut(),
    );
    const first = startCli(home, DEPLOY, MULTIPART_ENV);
    await cut;
    const gaveUp = await first.done;
    expect(gaveUp.code, gaveUp.stderr).toBe(40);
    expect(gaveUp.stderr).toMatch(/cannot reach object storage: /);
    const [saved] = await home.uploadStates();
    expect(Object.keys(saved!.parts)).toEqual(['1']);

    // While the store is away, what needs it is a 503 to retry, and the readiness check says so.
    const init = await fp.api('POST', '/artifacts/multipart/init', {
      app_name: 'objects',
      digest: DIGEST,
      size_bytes: 12 * MiB,
      part_size_bytes: 5 * MiB,
    });
    expect({ status: init.status, retryAfter: init.headers.get('retry-after'), body: await init.json() }).toEqual({
      status: 503,
      retryAfter: '2',
      body: { code: 'service_unavailable', message: 'the object storage is unavailable; retry shortly' },
    });
    const ready = await fetch(`${fp.plane.url}/readyz`);
    expect({ status: ready.status, body: await ready.json() }).toMatchObject({
      status: 503,
      body: { status: 'not_ready', down: ['storage'], checks: { database: 'ok', redis: 'ok' } },
    });

    s3Link.restore();
    const recut = tap.before(
      (r) => r.path === '/api/trpc/artifacts.multipartComplete',
      () => s3Link.cut(),
    );
    const again = startCli(home, DEPLOY, MULTIPART_ENV);
    await recut;
    await restoreOnceSaid(
      again,
      /control plane unavailable \(the object storage is unavailable; retry shortly\): retrying in [\d.]+m?s/,
      15_000,
      () => s3Link.restore(),
    );
    const run = await again.done;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`resuming upload ${saved!.upload_id.slice(0, 12)}: 1 of 4 parts already sent`);
    const completes = tap.records
      .filter((r) => r.path === '/api/trpc/artifacts.multipartComplete')
      .map((r) => r.status);
    expect(completes).toEqual([...completes.slice(0, -1).map(() => 503), 200]);
    expect(completes.length).toBeGreaterThanOrEqual(2);

    // ./invariants.ts reads the fs store; on S3 the database half is checked here, the store below.
    expect(await settledRows(fp.databaseUrl, 30_000)).toEqual([]);
    expect((await artifactRows(fp.databaseUrl)).map((a) => [a.app, a.status])).toEqual([['objects', 'stored']]);
    expect((await deploymentRows(fp.databaseUrl)).map((d) => [d.app, d.status])).toEqual([['objects', 'running']]);

    // In the store: the one object, and no multipart upload left open (every one started was completed or aborted).
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: s3.credentials,
    });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    client.destroy();
    expect(listed.Contents?.map((o) => o.Key)).toEqual([
      `artifacts/objects/${JSON.parse(run.stdout).digest}/app.tar.gz`,
    ]);
    const uploadIdOf = (url: string) => new URL(url, 'http://x').searchParams.get('uploadId');
    const started = s3.requests.filter((r) => r.method === 'POST' && /[?&]uploads(=|&|$)/.test(r.url)).length;
    const ended = new Set(
      s3.requests
        .filter((r) => (r.method === 'POST' || r.method === 'DELETE') && uploadIdOf(r.url))
        .map((r) => uploadIdOf(r.url)),
    );
    const withParts = new Set(
      s3.requests.filter((r) => r.method === 'PUT' && uploadIdOf(r.url)).map((r) => uploadIdOf(r.url)),
    );
    expect([...withParts].filter((id) => !ended.has(id))).toEqual([]);
    expect(ended.size).toBe(started);

    expect(unexpectedAnswers(tap.records)).toEqual([]);
    expect(await serverErrors(fp.plane.url)).toEqual([]);
  });
});
