import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackground, type RunningWorkers } from '../../jobs/start';
import { envAppArtifact, settle, storeArtifact } from '../support/env-app';
import { startTestPlane, type TestPlane } from '../support/harness';

/**
 * The router's port is taken by another program: the control plane still boots its workers and
 * deploys (apps answer on their instance ports), saying why in its log, instead of never
 * processing a job.
 */
describe('a router port already in use', () => {
  let squatter: net.Server;
  let plane: TestPlane;
  let workers: RunningWorkers | undefined;

  beforeAll(async () => {
    squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const taken = (squatter.address() as net.AddressInfo).port;
    plane = await startTestPlane('pglite', { AETHER_ROUTER_PORT: String(taken) });
  });

  afterAll(async () => {
    await workers?.stop();
    await plane?.close();
    squatter?.close();
  });

  it('still runs the workers, and a deployment answers on its instance port', async () => {
    workers = await startBackground(plane.services);
    const deployer = plane.caller('deployer');
    await deployer.apps.create({ name: 'no-router' });
    const digest = await storeArtifact(plane, 'no-router', envAppArtifact());
    const d = await settle(plane, 'trpc', (await deployer.deployments.create({ app_name: 'no-router', digest })).deployment.id);
    expect(d.status).toBe('running');
    expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${d.url}/`)).text()).toBe('env-app\n');
  });
});
