import { describe, expect, it } from 'vitest';
import { MAX_CONFIG_TOTAL_BYTES, MAX_CONFIG_VALUE_BYTES } from '../../server/contract/config';
import { appEnv, envAppArtifact, settle, storeArtifact } from '../support/env-app';
import { suitePlane } from '../support/harness';
import { trpcCodeOf } from '../support/trpc-code';

/**
 * A config within every documented limit must run; one past them is refused when it is changed,
 * never accepted and then failing every start. 100 values of 32 KiB are 3.2 MB of environment,
 * past the 2 MB a Linux exec takes by default (E2BIG).
 */
describe('a config at the documented limits', { timeout: 180_000 }, () => {
  const plane = suitePlane('pglite', { AETHER_HEALTH_TIMEOUT_SECS: '60' });

  // 100 values of 32 KiB are past the total a Linux exec (and a Kubernetes Secret) takes: the
  // change that crosses MAX_CONFIG_TOTAL_BYTES is refused, naming the limit, and changes nothing.
  it('100 values of 32 KiB are refused up front, once past the total; what ran before runs on', async () => {
    plane().startWorkers();
    const deployer = plane().caller('deployer');
    await deployer.apps.create({ name: 'roomy' });
    const digest = await storeArtifact(plane(), 'roomy', envAppArtifact());
    const big = (i: number) => String(i % 10).repeat(MAX_CONFIG_VALUE_BYTES);
    const outcomes: Array<{ code: string; version: number }> = [];
    // Requests of 5 values: each body stays under the JSON body limit.
    for (let part = 0; part < 20; part++) {
      const set = Object.fromEntries(Array.from({ length: 5 }, (_, j) => [`BIG_${part * 5 + j}`, big(part * 5 + j)]));
      const code = await trpcCodeOf(() => deployer.config.change({ app_name: 'roomy', set, deploy: false }));
      outcomes.push({ code, version: (await deployer.config.list({ app_name: 'roomy' })).version });
    }
    const perVar = 'BIG_00='.length + 1 + MAX_CONFIG_VALUE_BYTES;
    const fits = Math.floor(MAX_CONFIG_TOTAL_BYTES / perVar / 5); // whole requests that fit
    expect(outcomes.slice(0, fits).map((o) => o.code)).toEqual(Array(fits).fill('OK'));
    expect(outcomes.slice(fits).map((o) => o.code)).toEqual(Array(20 - fits).fill('BAD_REQUEST'));
    // Refused changes made no version.
    expect(new Set(outcomes.slice(fits).map((o) => o.version))).toEqual(new Set([1 + fits]));
    const message = await deployer.config.change({ app_name: 'roomy', set: { ONE_MORE: big(1) }, deploy: false }).catch((e: Error) => e.message);
    expect(message).toContain(`at most ${MAX_CONFIG_TOTAL_BYTES} bytes`);
    // What was accepted runs.
    const { deployment } = await deployer.deployments.create({ app_name: 'roomy', digest });
    const d = await settle(plane(), 'trpc', deployment.id);
    expect(d.status).toBe('running');
    expect(await appEnv(d.url, `BIG_${fits * 5 - 1}`)).toBe(big(fits * 5 - 1));
  });
});
