import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry, RuntimeDriver } from '../../server/runtime/port';
import { tarGz } from '../support/artifacts';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

/**
 * `GET /apps/{app}/logs?follow=1&tail=0` for an app that prints nothing: the headers must go
 * out at once. The probe's client waited forever, because the server (like Next, which the
 * test server mimics) sends the headers with the first chunk of the body, and there was none.
 */

/** Headers within this, or the answer is late (the stream itself waits 300 ms for a first line). */
const HEADERS_WITHIN_MS = 3000;

describe('followed logs of a quiet app', { timeout: 60_000 }, () => {
  let plane: TestPlane;
  let openReads = 0;

  beforeAll(async () => {
    plane = await startTestPlane('pglite');
    // A running app with nothing to say: no history, and no new line until the reader leaves.
    const quiet: RuntimeDriver['logs'] = (_target, q) =>
      (async function* (): AsyncGenerator<LogEntry> {
        openReads++;
        try {
          await new Promise<void>((resolve) => (q.signal?.aborted ? resolve() : q.signal?.addEventListener('abort', () => resolve(), { once: true })));
        } finally {
          openReads--;
        }
      })();
    plane.services.runtime = { ...plane.services.runtime, logs: quiet };
    await plane.caller('deployer').apps.create({ name: 'quiet' });
    const { completed, digest } = await uploadArtifact(plane, 'quiet', tarGz({ 'package.json': '{"name":"quiet"}' }));
    expect(completed.status).toBe('stored');
    await plane.caller('deployer').deployments.create({ app_name: 'quiet', digest });
  });
  afterAll(async () => plane?.close());

  it('sends 200 and its headers at once, and the read ends when the client goes away', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const late = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), HEADERS_WITHIN_MS).unref());
    const res = await Promise.race([fetch(`${plane.url}/apps/quiet/logs?follow=1&tail=0`, { headers: { authorization: `Bearer ${TOKENS.reader}` }, signal: ac.signal }), late]);
    expect(res).not.toBe('late');
    const answer = res as Response;
    expect({ status: answer.status, type: answer.headers.get('content-type'), deployment: answer.headers.has('x-aether-deployment-id') }).toEqual({
      status: 200,
      type: 'text/plain; charset=utf-8',
      deployment: true,
    });
    expect(Date.now() - started).toBeLessThan(HEADERS_WITHIN_MS);
    expect(openReads).toBe(1);
    ac.abort();
    const deadline = Date.now() + 5000;
    while (openReads > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(openReads).toBe(0);
  });
});
