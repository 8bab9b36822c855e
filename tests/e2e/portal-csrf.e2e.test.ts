/**
 * Portal server actions accept only requests from the portal's own origin. The request the
 * browser makes to create an app is captured once, then replayed with the session cookie:
 * without an Origin, from a foreign one, flagged cross-site by Sec-Fetch-Site (refused with a
 * 403 `forbidden` and no app), and from our origin (the app appears). The sign-in form's
 * return_to is tampered with in the page: hostile values land on /console, never a 500.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, newPortalContext } from '../support/browser';
import { startE2EWorkspace, type E2EWorkspace } from '../support/control-plane-process';

const ADMIN = `e2e-admin-${randomUUID()}`;

interface Captured {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

interface Answer {
  status: number;
  body: string;
}

/** node:http, so no header is added that the test did not ask for (fetch may add Origin). */
function send(url: string, method: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('portal server actions refuse requests from anywhere but the portal', () => {
  let ws: E2EWorkspace;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  const appNames = async () => {
    const res = await fetch(`${ws.plane.url}/api/trpc/apps.list`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { result: { data: { name: string }[] } }).result.data.map((a) => a.name);
  };
  const signIn = async (token: string) => {
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  /** The browser's own "Create app" request for `name`, stopped before it reaches the server. */
  const captureCreate = async (name: string): Promise<Captured> => {
    await page.goto('/console');
    let captured: Captured | null = null;
    await page.route('**/console', async (route) => {
      const req = route.request();
      if (req.method() !== 'POST') return route.continue();
      captured = { path: new URL(req.url()).pathname, headers: await req.allHeaders(), body: req.postDataBuffer() ?? Buffer.alloc(0) };
      await route.abort();
    });
    await page.getByText('Create an app').click();
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByRole('button', { name: 'Create app' }).click();
    await expect.poll(() => captured !== null).toBe(true);
    await page.unroute('**/console');
    return captured!;
  };
  /** Replays a capture with the session cookie and exactly the given origin headers. */
  const replay = (c: Captured, origin: Record<string, string>) => {
    const keep = ['content-type', 'next-action', 'next-router-state-tree', 'accept'];
    const headers = Object.fromEntries(keep.filter((h) => c.headers[h] !== undefined).map((h) => [h, c.headers[h]!]));
    return send(`${ws.plane.url}${c.path}`, 'POST', { ...headers, ...origin, cookie: `aether_session=${ADMIN}` }, c.body);
  };

  beforeAll(async () => {
    ws = await startE2EWorkspace('csrf', [`${ADMIN}:admin:erin`]);
    browser = await launchBrowser();
    context = await newPortalContext(browser, ws.plane.url);
    page = await context.newPage();
    await page.goto('/console');
    await signIn(ADMIN);
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await ws?.close();
  });

  it('captures a real server action: a POST to /console naming its action', async () => {
    const c = await captureCreate('csrf-probe');
    expect(c.path).toBe('/console');
    expect(c.headers['next-action']).toMatch(/^[0-9a-f]{40,}$/);
    expect(c.headers.origin).toBe(ws.plane.url);
    expect(await appNames()).not.toContain('csrf-probe');
  });

  it.each([
    ['no Origin', {}],
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['a tenant app on a sibling host', { origin: 'http://web.localhost:8080' }],
    ['the opaque Origin "null"', { origin: 'null' }],
    ['our Origin flagged cross-site by the browser', { origin: 'ORIGIN', 'sec-fetch-site': 'cross-site' }],
  ])('refuses %s with 403 forbidden and creates nothing', async (_label, origin: Record<string, string>) => {
    const name = `csrf-${randomUUID().slice(0, 8)}`;
    const c = await captureCreate(name);
    const headers = Object.fromEntries(Object.entries(origin).map(([k, v]) => [k, v === 'ORIGIN' ? ws.plane.url : v]));
    const res = await replay(c, headers);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'forbidden' });
    expect(await appNames()).not.toContain(name);
  });

  it('refuses a form POST to a portal page without Origin even when it names no action', async () => {
    const name = `csrf-${randomUUID().slice(0, 8)}`;
    const c = await captureCreate(name);
    const res = await send(`${ws.plane.url}/console`, 'POST', { 'content-type': c.headers['content-type']!, cookie: `aether_session=${ADMIN}` }, c.body);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'forbidden' });
  });

  it('runs the same request when it comes from our origin', async () => {
    const name = `csrf-${randomUUID().slice(0, 8)}`;
    const c = await captureCreate(name);
    const res = await replay(c, { origin: ws.plane.url, 'sec-fetch-site': 'same-origin' });
    expect(res.status).toBeLessThan(400);
    expect(await appNames()).toContain(name);
  });

  describe('return_to after signing in', () => {
    it.each(['\n', '/\n', '/console\r\nx: y', '/\t/evil.example', '//evil.example', '/\\evil.example', 'https://evil.example', 'javascript:alert(1)'])(
      'lands %j on /console, never a 500 or another host',
      async (hostile) => {
        const fresh = await context.browser()!.newContext({ baseURL: ws.plane.url });
        const p = await fresh.newPage();
        try {
          await p.goto('/console');
          await p.locator('input[name="return_to"]').evaluate((el, v) => ((el as HTMLInputElement).value = v), hostile);
          const answered = p.waitForResponse((r) => r.request().method() === 'POST');
          await p.getByLabel('API token').fill(ADMIN);
          await p.getByRole('button', { name: 'Sign in' }).click();
          expect((await answered).status()).toBeLessThan(500);
          await p.getByRole('heading', { name: 'Apps' }).waitFor();
          expect(new URL(p.url()).origin).toBe(ws.plane.url);
          expect(new URL(p.url()).pathname).toBe('/console');
        } finally {
          await fresh.close();
        }
      },
    );

    it('still returns to the page the user asked for', async () => {
      const fresh = await context.browser()!.newContext({ baseURL: ws.plane.url });
      const p = await fresh.newPage();
      try {
        await p.goto('/console/admin/tokens');
        await p.getByLabel('API token').fill(ADMIN);
        await p.getByRole('button', { name: 'Sign in' }).click();
        await p.waitForURL('**/console/admin/tokens');
        expect(new URL(p.url()).pathname).toBe('/console/admin/tokens');
      } finally {
        await fresh.close();
      }
    });
  });
});
