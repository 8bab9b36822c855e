/**
 * Scale, stop, start and restart in the portal, in real Chromium against the production build:
 * the app page shows health apart from the deployment's status, the stable URL and the instance
 * count; a deployer scales, stops (after confirming), starts and restarts, and each refusal
 * (quota_exceeded, conflict) is shown with the server's words; a reader sees the facts with the
 * controls disabled; the apps list has a Health column. Screenshots: lifecycle-*.png.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarGz } from '../support/artifacts';
import { launchBrowser, newPortalContext, screenshot } from '../support/browser';
import { startE2EWorkspace, type E2EWorkspace } from '../support/control-plane-process';

const DEPLOYER = `e2e-deployer-${randomUUID()}`;
const READER = `e2e-reader-${randomUUID()}`;
const APP = 'web';

interface AppDoc {
  url: string | null;
  instances: number;
  health: string | null;
}

describe('scale and lifecycle in the portal', () => {
  let ws: E2EWorkspace;
  let browser: Browser;
  let page: Page;

  async function trpc<T>(procedure: string, input: unknown, kind: 'query' | 'mutation' = 'mutation'): Promise<T> {
    const url = `${ws.plane.url}/api/trpc/${procedure}`;
    const headers = { authorization: `Bearer ${DEPLOYER}`, 'content-type': 'application/json' };
    const res =
      kind === 'query'
        ? await fetch(`${url}?input=${encodeURIComponent(JSON.stringify(input ?? null))}`, { headers })
        : await fetch(url, { method: 'POST', headers, body: JSON.stringify(input) });
    const body = (await res.json()) as { result?: { data: T }; error?: unknown };
    if (!res.ok) throw new Error(`${procedure}: ${res.status} ${JSON.stringify(body.error)}`);
    return body.result!.data;
  }

  const app = () => trpc<AppDoc>('apps.get', { app_name: APP }, 'query');

  /** Waits until the runtime has applied the change: the count and the health it should end with. */
  async function settled(instances: number, health: string): Promise<AppDoc> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const a = await app();
      if (a.instances === instances && a.health === health) return a;
      if (Date.now() > deadline) throw new Error(`app is ${a.instances} instance(s), ${a.health}; wanted ${instances}, ${health}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  const signIn = async (p: Page, token: string) => {
    await p.getByLabel('API token').fill(token);
    await p.getByRole('button', { name: 'Sign in' }).click();
  };
  const appPage = () => `/console/apps/${APP}`;
  const scaleForm = () => page.getByRole('form', { name: 'Scale' });
  const healthBadge = (p: Page) => p.locator('.app-head .badge[title^="health: "]');

  beforeAll(async () => {
    ws = await startE2EWorkspace('portal-lifecycle', [`${DEPLOYER}:deployer:dora`, `${READER}:reader:rita`]);
    await trpc('apps.create', { name: APP });
    const bytes = tarGz({
      'package.json': JSON.stringify({ name: APP, scripts: { start: 'node index.js' } }),
      'index.js': "require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');",
    });
    const digest = createHash('sha256').update(bytes).digest('hex');
    const presigned = await trpc<{ upload_url: string; headers: Record<string, string> }>('artifacts.presign', { app_name: APP, digest, size_bytes: bytes.length });
    expect((await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) })).status).toBe(200);
    await trpc('artifacts.complete', { app_name: APP, digest, size_bytes: bytes.length });
    const { deployment } = await trpc<{ deployment: { id: string } }>('deployments.create', { app_name: APP, digest });
    const deadline = Date.now() + 45_000;
    for (;;) {
      const d = await trpc<{ status: string }>('deployments.get', { id: deployment.id }, 'query');
      if (d.status === 'running') break;
      if (d.status === 'failed' || Date.now() > deadline) throw new Error(`deployment ${deployment.id} is ${d.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    browser = await launchBrowser();
    page = await (await newPortalContext(browser, ws.plane.url)).newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ws?.close();
  });

  it('shows the stable URL and instance count; scaling to 2 is applied and the health badge says healthy, apart from the deployment status', async () => {
    await page.goto(appPage());
    await signIn(page, DEPLOYER);
    await page.getByRole('heading', { name: APP, level: 1 }).waitFor();
    const before = await app();
    expect(before.url).toMatch(/^https?:\/\//);
    expect(await page.getByTestId('stable-url').textContent()).toBe(before.url);
    expect(await page.getByTestId('stable-url').getAttribute('href')).toBe(before.url);
    expect(await page.getByTestId('instances').textContent()).toBe('1');

    await scaleForm().getByLabel('Instances').fill('2');
    await scaleForm().getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => scaleForm().getByRole('status').textContent()).toBe(`Scaling ${APP} to 2 instances; health follows once the instances answer.`);
    await settled(2, 'healthy');

    await page.reload();
    expect(await page.getByTestId('instances').textContent()).toBe('2');
    expect(await healthBadge(page).textContent()).toBe('healthy');
    // The rollout's status is its own badge, never merged with the health.
    expect(await page.locator('.app-head .badge[title="deployment status: running"]').textContent()).toBe('running');
    await screenshot(page, 'lifecycle-app-head');
  });

  it('a count over max_instances is refused in the server words, and nothing changes', async () => {
    await page.goto(appPage());
    await scaleForm().getByLabel('Instances').fill('99');
    await scaleForm().getByRole('button', { name: 'Apply' }).click();
    await expect
      .poll(() => scaleForm().getByRole('alert').textContent())
      .toBe(`Quota exceeded: app "${APP}" may run at most 10 instances (max_instances 10); asked for 99 (quota_exceeded)`);
    expect((await app()).instances).toBe(2);
  });

  it('Stop asks first and stops; Restart of a stopped app shows the conflict; Start and Restart bring 2 healthy instances back', async () => {
    await page.goto(appPage());
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: `Stop ${APP}?` });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await app()).instances).toBe(2);

    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await dialog.getByRole('button', { name: 'Stop app' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Stopping' }).textContent()).toBe(`Stopping ${APP}. Start brings it back.`);
    await settled(0, 'stopped');

    await page.goto(appPage());
    expect(await page.getByTestId('instances').textContent()).toBe('0 (stopped)');
    expect(await healthBadge(page).textContent()).toBe('stopped');
    const restart = page.getByRole('form', { name: 'Restart', exact: true });
    await restart.getByRole('button', { name: 'Restart', exact: true }).click();
    await expect
      .poll(() => restart.getByRole('alert').textContent())
      .toBe(`Conflict: app "${APP}" is stopped: start it (apps.start) instead of restarting it (conflict)`);

    const start = page.getByRole('form', { name: 'Start', exact: true });
    await start.getByRole('button', { name: 'Start', exact: true }).click();
    await expect.poll(() => start.getByRole('status').textContent()).toBe(`Starting ${APP} with 2 instances.`);
    await settled(2, 'healthy');

    await page.goto(appPage());
    const again = page.getByRole('form', { name: 'Restart', exact: true });
    await again.getByRole('button', { name: 'Restart', exact: true }).click();
    await expect.poll(() => again.getByRole('status').textContent()).toBe(`Restarting ${APP}: its 2 instances are replaced one at a time.`);
    await settled(2, 'healthy');
  });

  it('a reader sees the facts with every control disabled; the apps list has a Health column', async () => {
    const reader = await (await newPortalContext(browser, ws.plane.url)).newPage();
    await reader.goto(appPage());
    await signIn(reader, READER);
    await reader.getByText(`Only deployers and admins can scale, stop, start or restart ${APP}.`).waitFor();
    expect(await reader.getByTestId('instances').textContent()).toBe('2');
    for (const name of ['Apply', 'Start', 'Restart', 'Stop']) {
      expect(await reader.getByRole('button', { name, exact: true }).isDisabled(), name).toBe(true);
    }
    expect(await reader.getByRole('form', { name: 'Scale' }).count()).toBe(0);
    await screenshot(reader, 'lifecycle-reader');

    await reader.goto('/console');
    const headers = await reader.locator('table.apps thead th').allTextContents();
    expect(headers.slice(0, 3)).toEqual(['App', 'Serving', 'Health']);
    expect(await reader.locator('table.apps tbody tr').filter({ hasText: APP }).locator('td[data-label="Health"]').textContent()).toBe('healthy');
  });
});
