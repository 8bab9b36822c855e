/**
 * The engineers' portal in real Chromium against the production build, with the CLI doing
 * the deploys: sign in, create an app, add a signing key, set a quota, watch a CLI deploy
 * reach running with its phases, follow its logs live, roll back; and a reader who sees no
 * write controls and whom the server refuses anyway. Every page visited is screenshotted
 * (tests/.artifacts/screenshots/portal-*.png).
 */
import { randomUUID } from 'node:crypto';
import { cp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, publicKeyFingerprint } from '../../server/contract/ed25519';
import { launchBrowser, newPortalContext, screenshot } from '../support/browser';
import { ROOT, runCli, startE2EWorkspace, type E2EWorkspace } from '../support/control-plane-process';

const ADMIN = `e2e-admin-${randomUUID()}`;
const DEPLOYER = `e2e-deployer-${randomUUID()}`;
const READER = `e2e-reader-${randomUUID()}`;
const APP = 'sample-app';

/** The sample app, plus one log line per request so the test can watch lines arrive live. */
const LOGGING_INDEX = `const http = require('node:http');
const { greeting } = require('./greeting');
http
  .createServer((req, res) => {
    console.log('served ' + req.url);
    res.end(greeting + '\\n');
  })
  .listen(Number(process.env.PORT), '127.0.0.1', () => console.log('sample-app listening on ' + process.env.PORT));
`;

interface DeployJson {
  digest: string;
  deployment: { id: string; status: string; url: string | null };
}

describe('the engineers portal in a browser', () => {
  let ws: E2EWorkspace;
  let browser: Browser;
  let engineer: BrowserContext;
  let page: Page;
  let appDir: string;
  const keys = generateSigningKeyPair();
  const deploys: DeployJson[] = [];

  const deploy = async (greeting: string) => {
    await writeFile(path.join(appDir, 'greeting.js'), `module.exports = { greeting: ${JSON.stringify(greeting)} };\n`);
    const env = { HOME: ws.work, XDG_CACHE_HOME: path.join(ws.work, 'cache'), AETHER_API_BASE: ws.plane.url, AETHER_TOKEN: DEPLOYER, AETHER_SIGNING_KEY: keys.privateSeedHex };
    const run = await runCli(['deploy', '--format', 'json'], { cwd: appDir, env });
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as DeployJson;
    deploys.push(out);
    return out;
  };
  const appPage = (tab = '') => `/console/apps/${APP}${tab ? `?tab=${tab}` : ''}`;
  const signIn = async (p: Page, token: string) => {
    await p.getByLabel('API token').fill(token);
    await p.getByRole('button', { name: 'Sign in' }).click();
  };

  beforeAll(async () => {
    ws = await startE2EWorkspace('portal', [`${ADMIN}:admin:erin`, `${DEPLOYER}:deployer:dora`, `${READER}:reader:rita`]);
    appDir = path.join(ws.work, APP);
    await cp(path.join(ROOT, 'tests/fixtures/sample-app'), appDir, { recursive: true });
    await writeFile(path.join(appDir, 'index.js'), LOGGING_INDEX);
    browser = await launchBrowser();
    engineer = await newPortalContext(browser, ws.plane.url);
    page = await engineer.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await ws?.close();
  });

  it('sends / to the console, refuses a wrong token, signs in and shows admins the Admin section', async () => {
    await page.goto('/');
    expect(new URL(page.url()).pathname).toBe('/console');
    await expect.poll(() => page.getByRole('heading', { name: 'Sign in' }).isVisible()).toBe(true);
    await screenshot(page, 'portal-sign-in');
    await signIn(page, 'not-a-real-token');
    // Filtered: Next's route announcer is an alert region too.
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await signIn(page, ADMIN);
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    await expect.poll(() => page.getByText('No apps yet').isVisible()).toBe(true);
    const nav = page.getByRole('navigation', { name: 'Portal' });
    expect(await nav.getByRole('link', { name: 'Queues' }).getAttribute('href')).toBe('/console/admin/queues');
    expect(await nav.getByRole('link', { name: 'Metrics' }).getAttribute('href')).toBe('/console/admin/metrics');
    expect(await nav.getByRole('link', { name: 'API tokens' }).getAttribute('href')).toBe('/console/admin/tokens');
    expect(await page.getByText('erin').first().isVisible()).toBe(true);
    // The session cookie is httpOnly: page scripts cannot read the token.
    expect(await page.evaluate(() => document.cookie)).not.toContain(ADMIN);
    await screenshot(page, 'portal-apps-empty');
  });

  it('creates an app, and shows the code and message when the name is taken', async () => {
    await page.getByText('Create an app').click();
    await page.getByLabel('Name', { exact: true }).fill(APP);
    await page.getByRole('button', { name: 'Create app' }).click();
    await page.waitForURL(`**${appPage()}`);
    await page.getByRole('heading', { name: APP, level: 1 }).waitFor();
    expect(await page.getByText('No deployments yet').isVisible()).toBe(true);
    expect(await page.getByText('not serving').isVisible()).toBe(true);
    await screenshot(page, 'portal-app-new');

    await page.goto('/console');
    await page.getByText('Create an app').click();
    await page.getByLabel('Name', { exact: true }).fill(APP);
    await page.getByRole('button', { name: 'Create app' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'conflict' });
    await alert.waitFor();
    expect(await alert.textContent()).toContain(`"${APP}" exists`);
    expect(await alert.textContent()).not.toMatch(/at .*\.js|Error:/);
  });

  it('adds a signing key and shows its fingerprint', async () => {
    await page.goto(appPage('keys'));
    expect(await page.getByText('No signing keys').isVisible()).toBe(true);
    await page.getByLabel(/Public key/).fill(keys.publicKeyHex);
    await page.getByRole('button', { name: 'Add key' }).click();
    const fingerprint = publicKeyFingerprint(keys.publicKeyHex);
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'is active' }).count()).toBe(1);
    await page.locator('code.fingerprint', { hasText: fingerprint }).waitFor();
    await screenshot(page, 'portal-keys');
  });

  it('sets a quota, shown as usage bars for count and bytes', async () => {
    await page.goto(appPage('quotas'));
    await page.getByLabel('Max artifacts').fill('50');
    await page.getByLabel('Max storage (MiB)').fill('100');
    await page.getByLabel('Keep newest (artifacts)').fill('10');
    await page.getByRole('button', { name: 'Save limits' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Limits saved' }).count()).toBe(1);
    expect(await page.getByRole('meter', { name: 'Artifacts' }).getAttribute('aria-valuetext')).toBe('0 of 50 (0%)');
    expect(await page.getByRole('meter', { name: 'Storage' }).getAttribute('aria-valuetext')).toBe('0 B of 100 MiB (0%)');
    expect(await page.getByText('keeps the newest').textContent()).toContain('10');
    await screenshot(page, 'portal-quotas');
  });

  it('shows a CLI deployment reach running with each phase and its duration', async () => {
    await page.goto(appPage());
    const deploying = deploy('hello from v1');
    // Reload until the CLI's deployment shows up; from then on the page refreshes itself while
    // it is queued or rolling out, so whatever states it passes through are seen without reloads.
    const entries = page.locator('.deploy');
    const deadline = Date.now() + 30_000;
    while ((await entries.count()) === 0) {
      if (Date.now() > deadline) throw new Error(`no deployment on the page after 30 s (CLI: ${JSON.stringify(await Promise.race([deploying, 'still running']))})`);
      await new Promise((r) => setTimeout(r, 300));
      await page.reload();
    }
    const seen = new Set<string>();
    await expect
      .poll(async () => {
        const state = (await entries.first().locator('.badge').first().textContent()) ?? '';
        seen.add(state);
        return state;
      }, { timeout: 30_000, interval: 100 })
      .toBe('running');
    console.log(`deployment states seen in the portal: ${[...seen].join(' -> ')}`);
    const first = await deploying;
    expect(first.deployment.status).toBe('running');
    const entry = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: new RegExp(first.deployment.id.slice(0, 8)) }) });
    await entry.getByText('running', { exact: true }).waitFor();
    expect(await entry.locator('.tag').textContent()).toBe('current');
    const phases = entry.getByRole('list', { name: /Phases of deployment/ });
    const names = await phases.locator('.phase-name').allTextContents();
    expect(names).toEqual(expect.arrayContaining(['fetch', 'verify', 'unpack', 'start', 'health', 'switch']));
    for (const t of await phases.locator('.phase-time').allTextContents()) expect(t).toMatch(/^\d+(\.\d)? (ms|s)$/);
    expect(await entry.textContent()).toMatch(/running after \d/);
    expect(await page.getByText('serving', { exact: true }).isVisible()).toBe(true);
    await screenshot(page, 'portal-deployments');

    await page.goto('/console');
    const row = page.getByRole('row').filter({ hasText: APP });
    expect(await row.textContent()).toContain(first.digest.slice(0, 12));
    expect(await row.textContent()).toContain('dora');
    await screenshot(page, 'portal-apps');
    await page.getByLabel('Search apps by name or owner').fill('no-such-thing');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No app matches').waitFor();
  });

  it('follows the logs live: a request to the app shows up without a reload', async () => {
    await page.goto(appPage('logs'));
    const log = page.getByRole('log');
    await expect.poll(() => log.textContent(), { timeout: 15_000 }).toContain('sample-app listening on');
    await page.getByText('Live:').waitFor();
    const marker = `/ping-${randomUUID().slice(0, 8)}`;
    expect((await fetch(`${deploys[0]!.deployment.url}${marker}`)).ok).toBe(true);
    await expect.poll(() => log.textContent(), { timeout: 10_000 }).toContain(`served ${marker}`);
    await screenshot(page, 'portal-logs');
  });

  it('lists artifacts with size, digest, verification and the signing key', async () => {
    const second = await deploy('hello from v2');
    expect(second.digest).not.toBe(deploys[0]!.digest);
    await page.goto(appPage('artifacts'));
    const rows = page.getByRole('row').filter({ has: page.getByText('verified', { exact: true }) });
    await expect.poll(() => rows.count()).toBe(2);
    const row = page.getByRole('row').filter({ hasText: second.digest.slice(0, 12) });
    expect(await row.textContent()).toContain(publicKeyFingerprint(keys.publicKeyHex));
    expect(await row.textContent()).toMatch(/\d+(\.\d)? KiB/);
    await screenshot(page, 'portal-artifacts');
    // Logs of the replaced deployment stay readable.
    await page.goto(`${appPage('logs')}&deployment=${deploys[0]!.deployment.id}`);
    await expect.poll(() => page.getByRole('log').textContent(), { timeout: 15_000 }).toContain('served /ping-');
    await page.getByText('End of output').waitFor();
  });

  it('rolls back after confirmation and the old version serves again', async () => {
    const [first, second] = deploys as [DeployJson, DeployJson];
    await page.goto(appPage());
    const entry = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: new RegExp(first.deployment.id.slice(0, 8)) }) });
    await entry.getByRole('button', { name: 'Roll back to this' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain(first.digest.slice(0, 12));
    await screenshot(page, 'portal-rollback-confirm');
    // Cancel changes nothing.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await dialog.isVisible()).toBe(false);
    await entry.getByRole('button', { name: 'Roll back to this' }).click();
    await dialog.getByRole('button', { name: 'Roll back', exact: true }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Rolling back' }).count()).toBeGreaterThan(0);
    // No reload: the page refreshes itself while the rollback is in flight.
    const current = page.locator('.deploy').filter({ has: page.locator('.tag', { hasText: 'current' }) });
    await expect.poll(async () => (await current.textContent()) ?? '', { timeout: 30_000 }).toContain(first.digest.slice(0, 12));
    expect(await current.getByText('running', { exact: true }).isVisible()).toBe(true);
    const replaced = page.locator('.deploy').filter({ has: page.getByRole('heading', { name: new RegExp(second.deployment.id.slice(0, 8)) }) });
    expect(await replaced.getByText('rolled back', { exact: true }).isVisible()).toBe(true);
    await screenshot(page, 'portal-rolled-back');
    const apps = (await (await fetch(`${ws.plane.url}/apps`, { headers: { authorization: `Bearer ${READER}` } })).json()) as Array<{ name: string; current: { url: string } }>;
    expect(await (await fetch(apps.find((a) => a.name === APP)!.current.url)).text()).toContain('hello from v1');
  });

  it('shows a reader no write controls, and the server refuses them anyway', async () => {
    const ctx = await newPortalContext(browser, ws.plane.url);
    const p = await ctx.newPage();
    await p.goto(appPage());
    await signIn(p, READER);
    await p.getByRole('heading', { name: APP, level: 1 }).waitFor();
    expect(await p.getByRole('button', { name: 'Roll back to this' }).count()).toBe(0);
    expect(await p.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Queues' }).count()).toBe(0);
    await screenshot(p, 'portal-reader-app');
    await p.goto(appPage('keys'));
    await p.getByRole('heading', { name: 'Signing keys' }).waitFor();
    expect(await p.getByRole('button', { name: /Add key|Deactivate/ }).count()).toBe(0);
    await p.goto(appPage('quotas'));
    await p.getByRole('heading', { name: 'Quota and retention' }).waitFor();
    expect(await p.getByRole('button', { name: 'Save limits' }).count()).toBe(0);
    await p.goto('/console');
    expect(await p.getByText('Create an app').count()).toBe(0);
    await screenshot(p, 'portal-reader-apps');

    // Trying anyway from the page (same origin, session cookie): refused with the code.
    const attempt = (procedure: string, input: unknown) =>
      p.evaluate(
        async ([proc, body]) => {
          const res = await fetch(`/api/trpc/${proc}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          const json = (await res.json()) as { error?: { data?: { code?: string } } };
          return { status: res.status, code: json.error?.data?.code };
        },
        [procedure, input] as const,
      );
    expect(await attempt('apps.create', { name: 'sneaky' })).toEqual({ status: 403, code: 'forbidden' });
    expect(await attempt('keys.add', { app_name: APP, public_key_hex: keys.publicKeyHex })).toEqual({ status: 403, code: 'forbidden' });
    expect(await attempt('deployments.rollback', { app_name: APP })).toEqual({ status: 403, code: 'forbidden' });
    expect(await attempt('apps.setLimits', { app_name: APP, max_artifacts: 1 })).toEqual({ status: 403, code: 'forbidden' });
    // Reads work with the cookie alone.
    expect((await p.evaluate(async () => (await fetch('/api/trpc/session.whoami')).json())) as unknown).toMatchObject({ result: { data: { name: 'rita', role: 'reader' } } });
    await ctx.close();
  });

  it('refuses cookie-authenticated writes from another origin, and cookie-less calls', async () => {
    const cookie = `aether_session=${ADMIN}`;
    const post = (headers: Record<string, string>) =>
      fetch(`${ws.plane.url}/api/trpc/apps.create`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name: 'csrf-app' }) });
    const foreign = await post({ cookie, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(JSON.stringify(await foreign.json())).toContain('cross-origin');
    expect((await post({ cookie })).status).toBe(403);
    // Our own Origin, but the browser says the page that sent it is another site (a tenant app).
    expect((await post({ cookie, origin: ws.plane.url, 'sec-fetch-site': 'same-site' })).status).toBe(403);
    expect((await post({})).status).toBe(401);
    // Bearer tokens keep working without any Origin (the CLI).
    expect((await post({ authorization: `Bearer ${ADMIN}` })).status).toBe(200);
  });

  it('works at phone width', async () => {
    const ctx = await newPortalContext(browser, ws.plane.url, 'phone');
    const p = await ctx.newPage();
    await p.goto('/console');
    await signIn(p, DEPLOYER);
    await p.getByRole('heading', { name: 'Apps' }).waitFor();
    // Nothing wider than the screen: no sideways scrolling.
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(p, 'portal-phone-apps');
    await p.goto(appPage());
    await p.getByRole('heading', { name: APP, level: 1 }).waitFor();
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(p, 'portal-phone-app');
    await p.goto(appPage('quotas'));
    await screenshot(p, 'portal-phone-quotas');
    await ctx.close();
  });
});
