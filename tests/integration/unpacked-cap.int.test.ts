import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { sha256, tarBytes } from '../support/artifacts';
import { callFace, callOk } from '../support/faces';
import { startTestPlane, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

/**
 * A release is capped in unpacked size: AETHER_MAX_UNPACKED_BYTES for every app, or the app's own
 * max_unpacked_bytes (PATCH /apps/{app}/limits). A gzip bomb fails its deployment at unpack, on
 * the local runtime, with the cap in the message; nothing of it is left on disk.
 */

const MiB = 1024 * 1024;
const ENV_CAP = 4 * MiB;

/** package.json plus `zeros` bytes of zeros: about 1000 to 1 under gzip. */
const bomb = (zeros: number) =>
  gzipSync(tarBytes({ 'package.json': JSON.stringify({ name: 'bomb', scripts: { start: 'node index.js' } }), 'index.js': '', zeros: Buffer.alloc(zeros) }), { level: 9 });

describe('the unpacked-size cap', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane('pglite', { AETHER_MAX_UNPACKED_BYTES: String(ENV_CAP) });
    plane.startWorkers();
  });
  afterAll(async () => plane?.close());

  async function deployAndWait(app: string, bytes: Buffer) {
    const { digest } = await uploadArtifact(plane, app, bytes);
    const created = await plane.caller('deployer').deployments.create({ app_name: app, digest });
    const settled = await plane.caller('reader').deployments.wait({ id: created.deployment.id, timeout_ms: 30_000 });
    const events = await plane.caller('reader').deployments.events({ id: created.deployment.id });
    return { settled, events };
  }

  /** Files named `zeros` anywhere under the data dir: an unpacked bomb would leave one. */
  async function unpackedZeros(): Promise<string[]> {
    const names = await readdir(plane.dataDir, { recursive: true });
    return names.filter((n) => n.split('/').pop() === 'zeros');
  }

  it('refuses a 1000-to-1 gzip bomb over the environment cap at unpack, with the cap in the failure', async () => {
    await plane.caller('deployer').apps.create({ name: 'bomb-env' });
    const bytes = bomb(8 * MiB);
    expect(bytes.length).toBeLessThan(16 * 1024);
    const { settled, events } = await deployAndWait('bomb-env', bytes);
    expect({ status: settled.status, failure_reason: settled.failure_reason }).toEqual({ status: 'failed', failure_reason: 'archive_refused' });
    expect(events.map((e) => e.phase)).toEqual(['created', 'rolling_out', 'fetch', 'verify', 'failed']);
    expect(events.at(-1)!.message).toBe(`archive_refused: archive refused: more than ${ENV_CAP} bytes uncompressed (max_unpacked_bytes)`);
    expect(await unpackedZeros()).toEqual([]);
  });

  it("takes the app's own max_unpacked_bytes from PATCH /apps/{app}/limits, and null gives the default back", async () => {
    await plane.caller('deployer').apps.create({ name: 'bomb-app' });
    const patched = await callOk<{ overrides: { max_unpacked_bytes: number | null }; effective: { max_unpacked_bytes: number } }>(plane, 'rest', {
      op: 'setLimits',
      token: 'admin',
      input: { app_name: 'bomb-app', max_unpacked_bytes: MiB },
    });
    expect({ o: patched.overrides.max_unpacked_bytes, e: patched.effective.max_unpacked_bytes }).toEqual({ o: MiB, e: MiB });

    // 2 MiB: under the environment's 4 MiB, over the app's 1 MiB.
    const { settled, events } = await deployAndWait('bomb-app', bomb(2 * MiB));
    expect(settled.failure_reason).toBe('archive_refused');
    expect(events.at(-1)!.message).toBe(`archive_refused: archive refused: more than ${MiB} bytes uncompressed (max_unpacked_bytes)`);
    expect(await unpackedZeros()).toEqual([]);

    const cleared = await plane.caller('admin').apps.setLimits({ app_name: 'bomb-app', max_unpacked_bytes: null });
    expect({ o: cleared.overrides.max_unpacked_bytes, e: cleared.effective.max_unpacked_bytes }).toEqual({ o: null, e: ENV_CAP });
  });

  it('refuses a cap that is not a positive integer with 400 bad_request, changing nothing', async () => {
    await plane.caller('deployer').apps.create({ name: 'cap-input' });
    for (const value of [0, -1, 1.5]) {
      const res = await callFace(plane, 'rest', { op: 'setLimits', token: 'admin', input: { app_name: 'cap-input', max_unpacked_bytes: value } });
      expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
    }
    expect((await plane.caller('reader').apps.limits({ app_name: 'cap-input' })).overrides.max_unpacked_bytes).toBeNull();
  });
});
