import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRollout } from '../../server/services/deployments/rollout.service';
import { tarGz } from '../support/artifacts';
import { DB_KINDS, startTestPlane, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

const webApp = (text: string) =>
  tarGz({
    'package.json': JSON.stringify({ name: 'laggard', scripts: { start: 'node index.js' } }),
    'index.js': `require('http').createServer((q, s) => s.end(${JSON.stringify(text)})).listen(process.env.PORT, '127.0.0.1');`,
  });

/**
 * A rollout whose job an outage held back (retried, or re-run by the maintenance sweep) runs
 * after a newer deployment of its app went out: it must not replace it.
 */
describe.each(DB_KINDS)('a rollout resumed after a newer deployment went out, on %s', (kind) => {
  let plane: TestPlane;
  beforeAll(async () => {
    // No workers: the test runs each rollout itself, in the order an outage would leave them.
    plane = await startTestPlane(kind);
    await plane.caller('deployer').apps.create({ name: 'laggard' });
  });
  afterAll(async () => plane?.close());

  it('fails as `overtaken`, leaves the newer release running, and starts nothing', async () => {
    const deployer = plane.caller('deployer');
    const stored = async (text: string) => {
      const { digest, completed } = await uploadArtifact(plane, 'laggard', webApp(text));
      expect(completed.status).toBe('stored');
      return digest;
    };
    const [old, fresh] = [await stored('old'), await stored('new')];
    const held = (await deployer.deployments.create({ app_name: 'laggard', digest: old })).deployment;
    const newer = (await deployer.deployments.create({ app_name: 'laggard', digest: fresh })).deployment;

    await runRollout(plane.services, newer.id);
    const running = await deployer.deployments.get({ id: newer.id });
    expect(running.status).toBe('running');

    // Its job run late (retried after an outage, or re-queued after Redis lost it).
    await runRollout(plane.services, held.id);
    expect(await deployer.deployments.get({ id: held.id })).toMatchObject({ status: 'failed', failure_reason: 'overtaken' });
    const events = await deployer.deployments.events({ id: held.id });
    expect(events.at(-1)).toMatchObject({ phase: 'failed' });
    expect(events.at(-1)!.message).toBe(`overtaken: deployment ${newer.id}, created later, went out while this rollout waited; not rolled out over it`);
    expect(events.map((e) => e.phase)).not.toContain('rolling_out');
    expect(await deployer.deployments.get({ id: newer.id })).toMatchObject({ status: 'running', url: running.url });
    expect(await (await fetch(running.url!)).text()).toBe('new');
  });
});
