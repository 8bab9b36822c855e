import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';

/**
 * /metrics over real HTTP through serveMetrics, the function app/metrics/route.ts delegates to:
 * open when AETHER_METRICS_TOKEN is unset, else only for that bearer token.
 */
const METRICS_TOKEN = 'metrics-scrape-token-0123456789';
const PROM_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const scrape = (plane: TestPlane, authorization?: string) =>
  fetch(`${plane.url}/metrics`, { headers: authorization ? { authorization } : {} });

/** The value of the apps.list/ok sample of aether_trpc_requests_total (0 when absent). */
function appsListCount(body: string): number {
  const line = body.split('\n').find((l) => l.startsWith('aether_trpc_requests_total{procedure="apps.list",code="ok"} '));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('/metrics with AETHER_METRICS_TOKEN', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane('pglite', { AETHER_METRICS_TOKEN: METRICS_TOKEN });
  }, 60_000);
  afterAll(async () => plane?.close());

  it.each([
    ['no Authorization header', undefined, 'missing metrics bearer token'],
    ['another scheme', `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}`, 'missing metrics bearer token'],
    ['a wrong token of the same length', `Bearer ${METRICS_TOKEN.replace(/9$/, '8')}`, 'invalid metrics bearer token'],
    ['a prefix of the token', `Bearer ${METRICS_TOKEN.slice(0, -1)}`, 'invalid metrics bearer token'],
    ['an admin API token', `Bearer ${TOKENS.admin}`, 'invalid metrics bearer token'],
  ])('answers 401 unauthorized to %s, without a single series', async (_, authorization, message) => {
    const res = await scrape(plane, authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await res.json()).toEqual({ code: 'unauthorized', message });
  });

  it('serves the registry to the right token, counting tRPC calls made over HTTP', async () => {
    const before = await scrape(plane, `Bearer ${METRICS_TOKEN}`);
    expect(before.status).toBe(200);
    expect(before.headers.get('content-type')).toBe(PROM_CONTENT_TYPE);
    const first = await before.text();
    expect(first).toContain('# TYPE aether_trpc_requests_total counter');

    const list = await fetch(`${plane.url}/api/trpc/apps.list`, { headers: { authorization: `Bearer ${TOKENS.reader}` } });
    expect(list.status).toBe(200);
    const after = await scrape(plane, `bearer ${METRICS_TOKEN}`);
    expect(after.status).toBe(200);
    expect(appsListCount(await after.text())).toBe(appsListCount(first) + 1);
  });
});

describe('/metrics without AETHER_METRICS_TOKEN', () => {
  let plane: TestPlane;
  beforeAll(async () => {
    plane = await startTestPlane('pglite');
  }, 60_000);
  afterAll(async () => plane?.close());

  it('is open as before, whatever Authorization says', async () => {
    for (const authorization of [undefined, 'Bearer anything-at-all']) {
      const res = await scrape(plane, authorization);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(PROM_CONTENT_TYPE);
      expect(await res.text()).toContain('# TYPE aether_trpc_requests_total counter');
    }
  });
});
