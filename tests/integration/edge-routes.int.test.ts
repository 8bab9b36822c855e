import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../server/http/auth';
import { DB_KINDS, suitePlane, TOKENS } from '../support/harness';

/**
 * The edge's own routes, over real HTTP through the production route table: /startupz (the
 * seed's migration gate), /swagger (swagger-ui over /openapi.json, under a strict CSP), the
 * portal's log stream (session cookie only), and the request and trace ids and the seed's
 * http_requests_total on routes that are not REST.
 */

for (const kind of DB_KINDS) {
  describe(`/startupz, on ${kind}`, { timeout: 60_000 }, () => {
    const plane = suitePlane(kind);

    it('answers 200 with no pending migration once migrated, and 503 naming how many are not applied', async () => {
      const ok = await fetch(`${plane().url}/startupz`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ status: 'ok', pending_migrations: 0 });

      // As if this build shipped one migration more than the database has applied.
      const db = plane().services.db;
      const result: unknown = await db.execute(
        sql`delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations) returning id, hash, created_at`,
      );
      // postgres.js answers an array of rows, PGlite `{ rows }`.
      const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{ id: number; hash: string; created_at: string }>;
      const removed = rows[0]!;
      try {
        const pending = await fetch(`${plane().url}/startupz`);
        expect(pending.status).toBe(503);
        expect(await pending.json()).toEqual({ status: 'pending', pending_migrations: 1 });
      } finally {
        await db.execute(sql`insert into drizzle.__drizzle_migrations (id, hash, created_at) values (${removed.id}, ${removed.hash}, ${removed.created_at})`);
      }
      expect((await fetch(`${plane().url}/startupz`)).status).toBe(200);
    });
  });
}

describe('the edge routes beside the API', { timeout: 60_000 }, () => {
  const plane = suitePlane('pglite');

  it('/swagger serves swagger-ui over /openapi.json, its assets from the package, nothing else', async () => {
    const page = await fetch(`${plane().url}/swagger`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await page.text();
    for (const src of [...html.matchAll(/(?:src|href)="(\/swagger\/[^"]+)"/g)].map((m) => m[1]!)) {
      const asset = await fetch(`${plane().url}${src}`);
      expect(asset.status, src).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, src).toBeGreaterThan(0);
    }
    const init = await (await fetch(`${plane().url}/swagger/init.js`)).text();
    expect(init).toContain("url: '/openapi.json'");
    const bundle = await fetch(`${plane().url}/swagger/swagger-ui-bundle.js`);
    expect(bundle.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await bundle.text()).toContain('SwaggerUIBundle');

    // Only the whitelisted files: no path into the package or the disk.
    for (const probe of ['package.json', 'index.html', '..', '%2e%2e%2fpackage.json']) {
      const res = await fetch(`${plane().url}/swagger/${probe}`);
      expect(res.status, probe).toBe(404);
    }
    const post = await fetch(`${plane().url}/swagger`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await post.json()).toMatchObject({ code: 'method_not_allowed' });
  });

  it("the portal's log stream takes the session cookie only, and answers the envelope", async () => {
    const url = `${plane().url}/console/apps/ghost/logs?tail=10`;
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: 'unauthorized' });
    // A bearer token is not a session: this route belongs to the browser.
    expect((await fetch(url, { headers: { authorization: `Bearer ${TOKENS.reader}` } })).status).toBe(401);
    const signedIn = await fetch(url, { headers: { cookie: `${SESSION_COOKIE}=${TOKENS.reader}` } });
    expect(signedIn.status).toBe(404);
    expect(await signedIn.json()).toEqual({ code: 'not_found', message: 'app "ghost" not found' });
    const badTail = await fetch(`${plane().url}/console/apps/ghost/logs?tail=-1`, { headers: { cookie: `${SESSION_COOKIE}=${TOKENS.reader}` } });
    expect(badTail.status).toBe(400);
    const post = await fetch(url, { method: 'POST', headers: { cookie: `${SESSION_COOKIE}=${TOKENS.reader}` } });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('every route echoes the request and trace ids, and counts in http_requests_total by template', async () => {
    const mine = await fetch(`${plane().url}/healthz`, { headers: { 'x-request-id': 'req-edge-1', 'x-trace-id': 'trace-edge-1' } });
    expect([mine.headers.get('x-request-id'), mine.headers.get('x-trace-id')]).toEqual(['req-edge-1', 'trace-edge-1']);
    const minted = await fetch(`${plane().url}/api/trpc/session.whoami`, { headers: { authorization: `Bearer ${TOKENS.reader}` } });
    expect(minted.status).toBe(200);
    expect(minted.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(minted.headers.get('x-trace-id')).toBe(minted.headers.get('x-request-id'));
    // An id that could forge a log line is replaced, never echoed.
    const forged = await fetch(`${plane().url}/readyz`, { headers: { 'x-request-id': 'a b\tc' } });
    expect(forged.headers.get('x-request-id')).not.toBe('a b\tc');

    const metrics = await (await fetch(`${plane().url}/metrics`)).text();
    const sample = (labels: string[]) =>
      metrics.split('\n').find((l) => l.startsWith('http_requests_total{') && labels.every((label) => l.includes(label)));
    expect(sample(['method="GET"', 'path="/api/trpc/{procedure}"', 'status="200"', 'outcome="success"'])).toBeDefined();
    expect(sample(['method="GET"', 'path="/healthz"', 'status="200"'])).toBeDefined();
    // Raw paths never become labels.
    expect(metrics).not.toContain('path="/api/trpc/session.whoami"');
  });
});
