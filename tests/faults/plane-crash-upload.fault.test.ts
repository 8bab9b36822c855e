import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { startRequestTap, type RequestTap } from '../support/request-tap';
import { artifactRows, deploymentRows, serverErrors } from './fault-checks';
import { makeCliHome, MiB, MULTIPART_ENV, startCli, waitFor, type CliHome } from './fault-cli';
import { startFaultPlane, type FaultPlane } from './fault-plane';
import { checkInvariants } from './invariants';

const DEPLOY = ['deploy', '--no-install', '--no-sbom', '--detach', '--format', 'json'];

/**
 * The control plane SIGKILLed in the middle of a multipart upload to its fs store (the parts
 * are PUT to the plane itself), then a new plane on the same port, data dir and database: the
 * CLI gives up while nothing answers, and running the same deploy again resumes the upload
 * from the parts the store kept, rather than starting over. The CLI reaches the plane through
 * a request tap (a proxy, as a load balancer would be: the CLI's connections are reset while
 * the plane is gone) so the kill lands at an exact point: part 1 stored, part 2 on its way.
 */
describe('the control plane killed mid multipart upload', () => {
  let fp: FaultPlane;
  let tap: RequestTap;
  let home: CliHome;

  beforeAll(async () => {
    tap = await startRequestTap();
    fp = await startFaultPlane({ env: { AETHER_PUBLIC_URL: tap.url } });
    tap.target = fp.plane.url;
    // ~22 MiB of incompressible bytes: five parts of 5 MiB, sent one at a time.
    home = await makeCliHome(tap.url, { name: 'big', blobBytes: 22 * MiB });
  });
  afterAll(async () => {
    await fp?.close();
    await tap?.close();
    await home?.close();
  });
  // What happened when, printed if the test fails: on a loaded machine, which step it hung in.
  const steps: string[] = [];
  let t0 = 0;
  const step = (what: string) => steps.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`);
  beforeEach(() =>
    onTestFailed(() => {
      console.log(`steps:\n${steps.join('\n')}`);
      console.log(
        `requests through the tap:\n${tap.records.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n')}`,
      );
      console.log(`control plane output:\n${fp.plane.output().split('\n').slice(-40).join('\n')}`);
    }),
  );

  it('the re-run deploy resumes from the parts sent before the crash; stored once, nothing stray', async () => {
    // Part URLs are presigned one batch ahead: the second batch (part 3) is asked for once part 1
    // is recorded, as part 2's PUT starts.
    let presigns = 0;
    let errorsBefore: string[] = [];
    const killed = tap.before(
      (r) => r.path === '/api/trpc/artifacts.multipartPresignParts' && ++presigns === 2,
      async () => {
        // Its counters die with it: read them just before.
        errorsBefore = await serverErrors(fp.plane.url);
        await fp.plane.kill('SIGKILL');
      },
    );
    t0 = Date.now();
    step('first deploy started');
    const first = startCli(home, DEPLOY, MULTIPART_ENV);
    await killed;
    step('plane killed at the second presign');
    expect(errorsBefore).toEqual([]);
    const gaveUp = await first.done;
    step(`first deploy exited ${gaveUp.code}`);
    expect(gaveUp.code, gaveUp.stderr).toBe(40);
    expect(gaveUp.stderr).toMatch(/cannot reach/);
    const [saved] = await home.uploadStates();
    expect(Object.keys(saved!.parts)).toEqual(['1']);
    const sent = 1;

    await fp.startPlane();
    step('new plane up');
    const again = await startCli(home, DEPLOY, MULTIPART_ENV).done;
    step(`second deploy exited ${again.code}`);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`resuming upload ${saved!.upload_id.slice(0, 12)}: ${sent} of 5 parts already sent`);
    expect(again.stderr).not.toContain('starting over');
    // Only the parts the store lacked were sent again.
    const { size_bytes: size } = JSON.parse(again.stdout) as { size_bytes: number };
    expect(again.stderr).toContain(`uploaded ${((size - sent * 5 * MiB) / MiB).toFixed(1)} MiB in `);
    expect(await home.uploadStates()).toEqual([]);

    expect(await checkInvariants(fp, { runningApps: ['big'], settleMs: 30_000 })).toEqual([]);
    step('invariants checked');
    expect((await artifactRows(fp.databaseUrl)).map((a) => [a.app, a.status])).toEqual([['big', 'stored']]);
    expect((await deploymentRows(fp.databaseUrl)).map((d) => [d.app, d.status])).toEqual([['big', 'running']]);
    expect(await serverErrors(fp.plane.url)).toEqual([]);
    // Two 22 MiB deploys, two plane boots, a rollout and up to 30 s of settling: 11 s on an idle
    // machine, 30 s beside the other fault suites, and once past 60 s in CI.
  }, 150_000);
});
