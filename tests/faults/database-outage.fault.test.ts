import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { TOKENS } from '../support/harness';
import { pollUntil } from '../support/poll';
import { startFaultPlane, type FaultPlane } from './fault-plane';
import { holdLock } from './pg-locks';

const DIGEST = 'ab'.repeat(32);
/** The plane's statement timeout here: short, so the bound below is, and long enough for a loaded machine. */
const STATEMENT_TIMEOUT_MS = 3000;
/**
 * The longest a query may keep a request waiting (db/client.ts): three of the fault plane's 2 s
 * connect timeouts and the statement timeout, 9 s; and a margin for a loaded machine.
 */
const BOUND_MS = 12_000;
const DOWN = { code: 'service_unavailable', message: 'the database is unavailable; retry shortly' };

/** Every face of the API, one call each, while the database is away: what a client sees. */
async function facesWhileDown(
  fp: FaultPlane,
): Promise<Array<{ face: string; status: number; retryAfter: string | null; code: unknown; ms: number }>> {
  const auth = { authorization: `Bearer ${TOKENS.deployer}` };
  const calls: Array<[string, () => Promise<Response>]> = [
    ['REST GET /apps', () => fp.api('GET', '/apps')],
    [
      'REST POST /artifacts/presign',
      () => fp.api('POST', '/artifacts/presign', { app_name: 'svc', digest: DIGEST, size_bytes: 10 }),
    ],
    ['REST GET /deployments', () => fp.api('GET', '/deployments?app_name=svc')],
    ['tRPC apps.list', () => fetch(`${fp.plane.url}/api/trpc/apps.list`, { headers: auth })],
    [
      'tRPC deployments.create',
      () =>
        fetch(`${fp.plane.url}/api/trpc/deployments.create`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ app_name: 'svc', digest: DIGEST }),
        }),
    ],
  ];
  const out = [];
  for (const [face, call] of calls) {
    const t0 = performance.now();
    const res = await call().catch((err: unknown) => {
      throw new Error(`${face}: ${String(err)} after ${Math.round(performance.now() - t0)} ms`);
    });
    const body = (await res.json()) as { code?: unknown; error?: { data?: { code?: unknown } } };
    out.push({
      face,
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      code: body.code ?? body.error?.data?.code,
      ms: performance.now() - t0,
    });
  }
  return out;
}

describe('PostgreSQL cut from under the control plane', () => {
  let fp: FaultPlane;
  beforeAll(async () => {
    fp = await startFaultPlane({ env: { AETHER_DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS) } });
    const created = await fetch(`${fp.plane.url}/apps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'svc' }),
    });
    expect(created.status).toBe(201);
  });
  afterAll(() => fp?.close());
  beforeEach(() =>
    onTestFailed(() => console.log(`control plane output:\n${fp.plane.output().split('\n').slice(-40).join('\n')}`)),
  );

  it('answers 503 service_unavailable with Retry-After on every face at once when connections are refused, then recovers by itself', async () => {
    expect((await fp.api('GET', '/apps')).status).toBe(200);
    fp.pgLink.cut('refuse');

    for (const answer of await facesWhileDown(fp)) {
      expect(answer, answer.face).toMatchObject({ status: 503, retryAfter: '2', code: 'service_unavailable' });
      expect(answer.ms, answer.face).toBeLessThan(BOUND_MS);
    }
    expect(await (await fp.api('GET', '/apps')).json()).toEqual(DOWN);

    const ready = await fetch(`${fp.plane.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      status: 'not_ready',
      down: ['database'],
      checks: { redis: 'ok', storage: 'ok' },
    });
    expect((await fetch(`${fp.plane.url}/healthz`)).status).toBe(200);

    // No restart: the pool reconnects once the database is back.
    fp.pgLink.restore();
    const back = await pollUntil(
      async () => (await fp.api('GET', '/apps')).status,
      (s) => s === 200,
      15_000,
    );
    expect(back).toBe(200);
    expect((await fetch(`${fp.plane.url}/readyz`)).status).toBe(200);
    expect(fp.plane.output()).not.toMatch(/"level":"error".*procedure crashed/);
  });

  it('ends a transaction whose link freezes mid-way with a 503 within the bound, and writes none of it', async () => {
    const before = (await (await fp.api('GET', '/apps/svc/config')).json()) as { version: number };
    // The edit's transaction waits on the app's row, which the test holds: it is certainly open.
    const lock = await holdLock(fp.databaseUrl, [`select id from applications where name = 'svc' for update`]);
    let edit: Promise<Response>;
    try {
      // Not fp.api: its 30 s client timeout would cut short the very wait under test.
      edit = fetch(`${fp.plane.url}/apps/svc/config`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${TOKENS.deployer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ set: { FROZEN: '1' }, deploy: false }),
      });
      expect(await lock.blocked('%for update%')).toMatch(/from "applications"/);
      fp.pgLink.cut('freeze');
    } finally {
      await lock.release();
    }
    // Its answer and the ROLLBACK after it are held on the link: each waits out its deadline.
    const t0 = performance.now();
    const res = await edit;
    const ms = performance.now() - t0;
    fp.pgLink.restore();
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual(DOWN);
    expect(ms).toBeLessThan(2 * BOUND_MS);

    const after = await pollUntil(
      () => fp.api('GET', '/apps/svc/config'),
      (r) => r.status === 200,
      15_000,
    );
    expect(((await after.json()) as { version: number }).version).toBe(before.version);
  }, 90_000);

  it('answers 503 within the connect timeout when the link silently drops packets', async () => {
    fp.pgLink.cut('blackhole');
    try {
      const t0 = performance.now();
      const res = await fp.api('GET', '/apps');
      const ms = performance.now() - t0;
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual(DOWN);
      expect(ms).toBeLessThan(BOUND_MS);
    } finally {
      fp.pgLink.restore();
    }
  });
});
