import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitHealthy } from '../../server/runtime/local/health';

/**
 * An app that answers, but only 5xx, fails its health check: the outcome must carry the status
 * it answered, so the rollout says `health_check_failed` ("answered only HTTP 503"), not
 * `timeout` ("did not answer HTTP"). The last probe of the window gets only what time is left
 * and may itself time out: a status seen before must not be forgotten because of it.
 */
let server: http.Server;
let port: number;
beforeAll(async () => {
  // 600 ms per answer in a 1 s window: the first probe gets a 503, the second runs out of time.
  server = http.createServer((_req, res) => setTimeout(() => res.writeHead(503).end('not yet'), 600));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it('a window ending in a cut-short probe still reports the 503 the app answered', async () => {
  const outcome = await waitHealthy(port, 1000, new Promise(() => {}), '/health');
  expect(outcome).toEqual({ kind: 'timeout', lastStatus: 503 });
});
