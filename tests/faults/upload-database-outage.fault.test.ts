import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { artifactStorageKey } from '../../server/contract/digest';
import { sha256, tarGz } from '../support/artifacts';
import { startRequestTap, unexpectedAnswers, type RequestTap } from '../support/request-tap';
import { artifactRows, deploymentRows, serverErrors, storeFiles } from './fault-checks';
import {
  makeCliHome,
  MiB,
  MULTIPART_ENV,
  restoreOnceSaid,
  startCli,
  waitFor,
  type CliHome,
  type DeployJson,
} from './fault-cli';
import { startFaultPlane, type FaultPlane } from './fault-plane';
import { checkInvariants } from './invariants';

const DEPLOY = ['deploy', '--no-install', '--no-sbom', '--detach', '--format', 'json'];
/** The CLI's line while it waits out the 503 (cli/retry.ts), naming what is down. */
const WAITING_ON_DB = /control plane unavailable \(the database is unavailable; retry shortly\): retrying in [\d.]+m?s/;

/**
 * PostgreSQL cut at an exact point of a real `aether deploy` upload: the CLI talks to the plane
 * (and, fs store, PUTs its bytes) through a request tap that cuts the database link just before
 * it forwards the chosen request, and records every answer the CLI got.
 */
describe('PostgreSQL cut during an upload', () => {
  let fp: FaultPlane;
  let tap: RequestTap;
  const homes: CliHome[] = [];
  const statusesOf = (path: string) => tap.records.filter((r) => r.path === path).map((r) => r.status);

  beforeAll(async () => {
    tap = await startRequestTap();
    fp = await startFaultPlane({ env: { AETHER_PUBLIC_URL: tap.url } });
    tap.target = fp.plane.url;
    // As in database-outage: no cut while the start-up jobs run.
    await new Promise((r) => setTimeout(r, 3000));
  });
  afterAll(async () => {
    await fp?.close();
    await tap?.close();
    for (const h of homes) await h.close();
  });
  beforeEach(() =>
    onTestFailed(() => console.log(`control plane output:\n${fp.plane.output().split('\n').slice(-40).join('\n')}`)),
  );

  it('single PUT, cut at complete: the CLI waits naming the database, then finishes; bytes sent once', async () => {
    const home = await makeCliHome(tap.url, { name: 'single' });
    homes.push(home);
    const cut = tap.before(
      (r) => r.path === '/api/trpc/artifacts.complete',
      () => fp.pgLink.cut(),
    );
    const cli = startCli(home, DEPLOY);
    await cut;
    await restoreOnceSaid(cli, WAITING_ON_DB, 10_000, () => fp.pgLink.restore());
    const run = await cli.done;

    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as DeployJson;
    expect(out.deployment.status).toBe('pending');
    const completes = statusesOf('/api/trpc/artifacts.complete');
    expect(completes.length).toBeGreaterThanOrEqual(2);
    expect(completes).toEqual([...completes.slice(0, -1).map(() => 503), 200]);
    // The bytes went once: the outage came after the PUT, and the retried complete sent none.
    expect(tap.records.filter((r) => r.method === 'PUT').map((r) => r.status)).toEqual([200]);
    expect(unexpectedAnswers(tap.records)).toEqual([]);
  });

  it('multipart, cut with part 1 sent and part 2 in flight: presigning waits, then it completes', async () => {
    const home = await makeCliHome(tap.url, { name: 'parts', blobBytes: 12 * MiB });
    homes.push(home);
    const before = tap.records.length;
    // Part URLs are presigned one batch ahead: the second batch (part 3) is asked for as part 2's PUT starts.
    let presigns = 0;
    const cut = tap.before(
      (r) => r.path === '/api/trpc/artifacts.multipartPresignParts' && ++presigns === 2,
      () => fp.pgLink.cut(),
    );
    const cli = startCli(home, DEPLOY, MULTIPART_ENV);
    await cut;
    await restoreOnceSaid(cli, WAITING_ON_DB, 10_000, () => fp.pgLink.restore());
    const run = await cli.done;

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/uploaded 12\.\d MiB in [\d.]+ s \([\d.]+ MiB\/s\) in 3 parts of 5 MiB, 1 at a time/);
    const mine = tap.records.slice(before);
    const presignStatuses = mine
      .filter((r) => r.path === '/api/trpc/artifacts.multipartPresignParts')
      .map((r) => r.status);
    expect(presignStatuses[0]).toBe(200);
    expect(presignStatuses.slice(1)).toEqual([...presignStatuses.slice(2).map(() => 503), 200]);
    expect(presignStatuses.length).toBeGreaterThanOrEqual(3);
    // Each part went once: none was sent again because of the outage.
    expect(mine.filter((r) => r.method === 'PUT').map((r) => r.status)).toEqual([200, 200, 200]);
    expect(mine.filter((r) => r.path === '/api/trpc/artifacts.multipartComplete').map((r) => r.status)).toEqual([200]);
    expect(await home.uploadStates()).toEqual([]);
    expect(unexpectedAnswers(tap.records)).toEqual([]);
  });

  it('a presigned fs PUT while the database is away: a 503 to retry, not a crash; the URL works after', async () => {
    const bytes = tarGz({ 'package.json': '{"name":"probe","scripts":{"start":"node index.js"}}', 'index.js': '' });
    const digest = sha256(bytes);
    await fp.api('POST', '/apps', { name: 'probe' }, 'admin');
    const presigned = (await (
      await fp.api('POST', '/artifacts/presign', { app_name: 'probe', digest, size_bytes: bytes.length })
    ).json()) as { upload_url: string; headers: Record<string, string> };
    const put = () =>
      fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) });

    fp.pgLink.cut();
    const down = await put().finally(() => fp.pgLink.restore());
    const downBody = (await down.json()) as { code: string };
    const leftByRefusal = (await storeFiles(fp.dataDir)).filter((f) => f.includes(digest));

    // The upload goes on after the outage whatever the refusal was, so the scenario ends clean.
    await waitFor('the database link to be back', async () => (await fp.api('GET', '/apps')).status === 200, 15_000);
    expect((await put()).status).toBe(200);
    const done = await fp.api('POST', '/artifacts/complete', { app_name: 'probe', digest, size_bytes: bytes.length });
    expect(done.status).toBe(200);
    expect((await storeFiles(fp.dataDir)).filter((f) => f.includes(digest))).toEqual([
      artifactStorageKey('probe', digest),
      `${artifactStorageKey('probe', digest)}.meta.json`,
    ]);

    expect(leftByRefusal).toEqual([]);
    expect({ status: down.status, retryAfter: down.headers.get('retry-after'), code: downBody.code }).toEqual({
      status: 503,
      retryAfter: '2',
      code: 'service_unavailable',
    });
  });

  it('ends with each artifact stored once, one running deployment per app, nothing stray, no 5xx but 503', async () => {
    // The detached deploys roll out meanwhile, and the probe's artifact is verified.
    expect(await checkInvariants(fp, { runningApps: ['single', 'parts'], settleMs: 30_000 })).toEqual([]);
    expect((await artifactRows(fp.databaseUrl)).map((a) => [a.app, a.status])).toEqual([
      ['single', 'stored'],
      ['parts', 'stored'],
      ['probe', 'stored'],
    ]);
    expect((await deploymentRows(fp.databaseUrl)).map((d) => [d.app, d.status])).toEqual([
      ['single', 'running'],
      ['parts', 'running'],
    ]);
    expect(await serverErrors(fp.plane.url)).toEqual([]);
  });
});
