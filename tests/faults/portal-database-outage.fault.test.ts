import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { TOKENS } from '../support/harness';
import { serverErrors } from './fault-checks';
import { waitFor } from './fault-cli';
import { startFaultPlane, type FaultPlane } from './fault-plane';

/** A portal page as the signed-in `role` sees it (the session cookie holds the token), or signed out. */
async function page(
  fp: FaultPlane,
  path: string,
  role?: keyof typeof TOKENS,
): Promise<{ status: number; html: string }> {
  const t0 = performance.now();
  let headers = '';
  const load = async () => {
    const res = await fetch(`${fp.plane.url}${path}`, {
      headers: role ? { cookie: `aether_session=${TOKENS[role]}` } : {},
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
    headers = `, status ${res.status} after ${Math.round(performance.now() - t0)} ms`;
    return { status: res.status, html: await res.text() };
  };
  return load().catch((err: unknown) => {
    throw new Error(
      `GET ${path}${role ? ` as ${role}` : ''}: ${String(err)} after ${Math.round(performance.now() - t0)} ms` +
        headers,
    );
  });
}

/** The portal's error panel (app/_components/error-panel.tsx) as HTML; React may insert comment markers. */
const panel = (title: string, what: string, message: string, code: string) =>
  new RegExp(
    `role="alert"[^>]*>\\s*<h2>${title}</h2>\\s*<p>${what}(<!-- -->)?: (<!-- -->)?${message}(<!-- -->)? ` +
      `<code class="muted">\\(<!-- -->${code}<!-- -->\\)</code>`,
  );

const OUTAGE_PANEL = (what: string) =>
  panel('Temporarily unavailable', what, 'the database is unavailable; retry shortly', 'service_unavailable');

/**
 * Portal pages while PostgreSQL is cut: a signed-in engineer gets the page (200) with the
 * outage said in place of its data, not a bare 500 error page; signed out, the sign-in form.
 */
describe('PostgreSQL cut during a portal page load', () => {
  let fp: FaultPlane;

  beforeAll(async () => {
    fp = await startFaultPlane();
    expect((await fp.api('POST', '/apps', { name: 'svc' }, 'admin')).status).toBe(201);
    await new Promise((r) => setTimeout(r, 3000));
  });
  afterAll(() => fp?.close());
  beforeEach(() =>
    onTestFailed(() => console.log(`control plane output:\n${fp.plane.output().split('\n').slice(-40).join('\n')}`)),
  );

  it('shows a signed-in user the outage in the page, not a crash, and the pages come back after restore', async () => {
    const up = await page(fp, '/console', 'deployer');
    expect(up.status).toBe(200);
    expect(up.html).toContain('href="/console/apps/svc"');

    fp.pgLink.cut();
    const down = async () =>
      [
        await page(fp, '/console', 'deployer'),
        await page(fp, '/console/apps/svc', 'deployer'),
        await page(fp, '/console'),
      ] as const;
    const [apps, app, signedOut] = await down().finally(() => fp.pgLink.restore());

    // A session of an AETHER_API_TOKENS token needs no database: the page renders, its data call fails.
    expect(apps.status).toBe(200);
    expect(apps.html).toMatch(OUTAGE_PANEL('Loading the apps'));
    expect(app.status).toBe(200);
    expect(app.html).toMatch(OUTAGE_PANEL('Loading svc'));
    // Signed out, the sign-in form needs nothing from the database.
    expect(signedOut.status).toBe(200);
    expect(signedOut.html).toContain('API token');

    await waitFor('the database link to be back', async () => (await fp.api('GET', '/apps')).status === 200, 15_000);
    const back = await page(fp, '/console', 'deployer');
    expect(back.status).toBe(200);
    expect(back.html).toContain('href="/console/apps/svc"');
    expect(await serverErrors(fp.plane.url)).toEqual([]);
  });
});
