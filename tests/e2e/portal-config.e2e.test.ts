/**
 * Config, settings, teams and the audit log in the portal, in real Chromium against the
 * production build: a plain variable and a secret set in the Config tab and deployed (the app
 * reads both), the secret's value seen in no page and no response the browser received; a
 * staged edit of config and settings, a conflicting edit refused in words, the staged release
 * deployed at once; the apps list by team; the audit page with its filters and pages, for an
 * admin and for a user limited to one team. Screenshots: tests/.artifacts/screenshots/config-*.png.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarGz } from '../support/artifacts';
import { launchBrowser, newPortalContext, screenshot } from '../support/browser';
import { startE2EWorkspace, type E2EWorkspace } from '../support/control-plane-process';

const ADMIN = `e2e-admin-${randomUUID()}`;
const DEPLOYER = `e2e-deployer-${randomUUID()}`;
const PAYER = `e2e-payer-${randomUUID()}`;
const APP = 'shop';
const OTHER_APP = 'billing';
const TEAM = 'payments';
/** The secret canary: it may reach the app's environment and nothing the browser sees. */
const CANARY = `canary-${randomUUID()}`;

/** Answers with what it finds in its environment; the secret only as a hash. */
const ENV_APP = `const http = require('node:http');
const { createHash } = require('node:crypto');
http
  .createServer((req, res) => {
    const key = process.env.API_KEY;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({
      greeting: process.env.GREETING ?? null,
      feature: process.env.FEATURE ?? null,
      api_key_sha256: key ? createHash('sha256').update(key).digest('hex') : null,
    }));
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
`;

interface Deployment {
  id: string;
  status: string;
  url: string | null;
}

describe('config, settings, teams and audit in the portal', () => {
  let ws: E2EWorkspace;
  let browser: Browser;
  let engineer: BrowserContext;
  let page: Page;
  /** Every response the engineer's browser received (documents, RSC payloads, action results), as text. */
  const received: Array<Promise<{ url: string; type: string; text: string }>> = [];

  async function trpc<T>(procedure: string, input: unknown, token: string, kind: 'query' | 'mutation' = 'mutation'): Promise<T> {
    const url = `${ws.plane.url}/api/trpc/${procedure}`;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const res =
      kind === 'query'
        ? await fetch(`${url}?input=${encodeURIComponent(JSON.stringify(input ?? null))}`, { headers })
        : await fetch(url, { method: 'POST', headers, body: JSON.stringify(input) });
    const body = (await res.json()) as { result?: { data: T }; error?: unknown };
    if (!res.ok) throw new Error(`${procedure}: ${res.status} ${JSON.stringify(body.error)}`);
    return body.result!.data;
  }

  async function waitRunning(id: string): Promise<Deployment> {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const d = await trpc<Deployment>('deployments.get', { id }, DEPLOYER, 'query');
      if (d.status === 'running') return d;
      if (d.status === 'failed' || Date.now() > deadline) throw new Error(`deployment ${id} is ${d.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** What the running app reads from its environment. */
  async function appEnv(): Promise<{ greeting: string | null; feature: string | null; api_key_sha256: string | null }> {
    const apps = await trpc<Array<{ name: string; current: { url: string } | null }>>('apps.list', {}, DEPLOYER, 'query');
    return (await fetch(apps.find((a) => a.name === APP)!.current!.url)).json() as never;
  }

  const configPage = (tab = 'config') => `/console/apps/${APP}?tab=${tab}`;
  const signIn = async (p: Page, token: string) => {
    await p.getByLabel('API token').fill(token);
    await p.getByRole('button', { name: 'Sign in' }).click();
  };
  const staged = () => page.getByRole('region', { name: 'Staged changes' });
  const stagedText = () => staged().locator('p').first().textContent();
  const varRow = (name: string) => page.locator(`tr[data-var="${name}"]`);

  /** Follows the link a config change gives and waits for that deployment to run. */
  async function followDeployment(): Promise<string> {
    const link = page.getByRole('status').getByRole('link', { name: 'Follow the deployment' });
    await link.waitFor();
    const href = (await link.getAttribute('href')) ?? '';
    expect(href).toMatch(new RegExp(`^/console/apps/${APP}#dep-[0-9a-f-]{36}$`));
    await link.click();
    await page.waitForURL((u) => u.pathname === `/console/apps/${APP}` && u.hash.startsWith('#dep-'));
    const id = href.split('#dep-')[1]!;
    await waitRunning(id);
    return id;
  }

  /** The config note of one deployment in the timeline ("v3: set API_KEY"). */
  const configNote = (id: string) => page.locator(`li.deploy:has(h3#dep-${id}) .config-note`);

  beforeAll(async () => {
    ws = await startE2EWorkspace('portal-config', [`${ADMIN}:admin:ada`, `${DEPLOYER}:deployer:dora`, `${PAYER}:deployer:pat:${TEAM}`]);
    await trpc('teams.create', { name: TEAM }, ADMIN);
    await trpc('apps.create', { name: APP }, DEPLOYER);
    await trpc('apps.create', { name: OTHER_APP, team: TEAM }, ADMIN);
    // The first release, by API: the portal's part starts with a running app.
    const bytes = tarGz({ 'package.json': JSON.stringify({ name: APP, scripts: { start: 'node index.js' } }), 'index.js': ENV_APP });
    const digest = createHash('sha256').update(bytes).digest('hex');
    const presigned = await trpc<{ upload_url: string; headers: Record<string, string> }>('artifacts.presign', { app_name: APP, digest, size_bytes: bytes.length }, DEPLOYER);
    expect((await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) })).status).toBe(200);
    await trpc('artifacts.complete', { app_name: APP, digest, size_bytes: bytes.length }, DEPLOYER);
    const first = await trpc<{ deployment: Deployment }>('deployments.create', { app_name: APP, digest }, DEPLOYER);
    await waitRunning(first.deployment.id);

    browser = await launchBrowser();
    engineer = await newPortalContext(browser, ws.plane.url);
    page = await engineer.newPage();
    page.on('response', (res: Response) => {
      received.push(
        res
          .text()
          .then((text) => ({ url: res.url(), type: res.headers()['content-type'] ?? '', text }))
          .catch(() => ({ url: res.url(), type: 'unreadable', text: '' })),
      );
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ws?.close();
  });

  it('sets a plain variable and a secret in the Config tab, each deployed; the secret reaches the app and nothing the browser got', async () => {
    await page.goto(configPage());
    await signIn(page, DEPLOYER);
    await page.getByRole('heading', { name: 'Config' }).waitFor();
    await page.getByText('No variables').waitFor();

    const plain = page.getByRole('form', { name: 'Set a variable' });
    await plain.getByLabel('Name').fill('GREETING');
    await plain.getByLabel('Value').fill('hello world');
    expect(await plain.getByLabel('Deploy now').isChecked()).toBe(true);
    await plain.getByRole('button', { name: 'Set variable' }).click();
    await expect.poll(() => plain.getByRole('status').textContent()).toMatch(/^Variable GREETING set \(config v2\): deployment [0-9a-f]{8} is rolling it out\./);
    const first = await followDeployment();
    await expect.poll(() => configNote(first).textContent()).toBe('config v2: set GREETING');
    await screenshot(page, 'config-timeline');

    await page.goto(configPage());
    const secret = page.getByRole('form', { name: 'Set a secret' });
    const secretInput = secret.getByLabel('Secret value');
    expect(await secretInput.getAttribute('type')).toBe('password');
    expect(await secretInput.getAttribute('autocomplete')).toBe('off');
    await secret.getByLabel('Name').fill('API_KEY');
    await secretInput.fill(CANARY);
    await secret.getByRole('button', { name: 'Set secret' }).click();
    await expect.poll(() => secret.getByRole('status').textContent()).toMatch(/^Secret API_KEY set \(config v3\): deployment [0-9a-f]{8} is rolling it out\./);
    const second = await followDeployment();
    await expect.poll(() => configNote(second).textContent()).toBe('config v3: set API_KEY');

    expect(await appEnv()).toEqual({ greeting: 'hello world', feature: null, api_key_sha256: createHash('sha256').update(CANARY).digest('hex') });

    await page.goto(configPage());
    expect(await varRow('GREETING').locator('td').first().textContent()).toBe('hello world');
    expect(await varRow('API_KEY').locator('td').first().textContent()).toBe('•••••••• secret (value hidden)');
    expect(await varRow('API_KEY').textContent()).toMatch(/set \d+ (s|min) ago by dora/);
    // Replacing a secret starts from an empty password field: nothing to prefill it with.
    await varRow('API_KEY').getByText('Replace').click();
    const replace = varRow('API_KEY').locator('input[name="value"]');
    expect(await replace.getAttribute('type')).toBe('password');
    expect(await replace.inputValue()).toBe('');
    await screenshot(page, 'config-tab');

    expect(await page.content()).not.toContain(CANARY);
    const responses = await Promise.all(received);
    expect(responses.filter((r) => r.type.startsWith('text/x-component')).length).toBeGreaterThan(0);
    expect(responses.filter((r) => r.text.includes(CANARY)).map((r) => r.url)).toEqual([]);
  });

  it('stages config and settings, refuses a stale edit in words, then deploys the staged release at once', async () => {
    await page.goto(configPage());
    const plain = page.getByRole('form', { name: 'Set a variable' });
    await plain.getByLabel('Name').fill('FEATURE');
    await plain.getByLabel('Value').fill('on');
    await plain.getByLabel('Stage, deploy later').check();
    await plain.getByRole('button', { name: 'Set variable' }).click();
    await expect.poll(() => plain.getByRole('status').textContent()).toBe('Variable FEATURE set (config v4), staged: it runs once you deploy the staged config.');
    await expect.poll(stagedText).toBe('staged Config v4 is not running yet (v3 runs). Set: FEATURE.');

    // While changes are staged, staging is what the forms offer first.
    await varRow('GREETING').getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getByLabel('Stage, deploy later').isChecked()).toBe(true);
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await expect.poll(stagedText).toBe('staged Config v5 is not running yet (v3 runs). Set: FEATURE. Deleted: GREETING.');

    await page.goto(configPage('settings'));
    const settings = page.getByRole('form', { name: 'App settings' });
    await settings.getByLabel('Health-check timeout (s)').fill('30');
    expect(await settings.getByLabel('Stage, deploy later').isChecked()).toBe(true);
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await expect.poll(() => settings.getByRole('status').textContent()).toBe('Settings saved (config v6), staged: it runs once you deploy the staged config.');
    await expect.poll(stagedText).toContain('Settings: health_timeout_secs.');
    expect(await page.getByText(`${APP} belongs to team default`).isVisible()).toBe(true);

    // Someone else changes the config while this page is open: the edit made from it is refused, not applied over theirs.
    await page.goto(configPage());
    await trpc('config.change', { app_name: APP, set: { OTHER: 'x' }, deploy: false }, ADMIN);
    await plain.getByLabel('Name').fill('LATE');
    await plain.getByLabel('Value').fill('1');
    await plain.getByRole('button', { name: 'Set variable' }).click();
    await expect
      .poll(() => plain.getByRole('alert').textContent())
      .toBe(`Conflict: the config of app "${APP}" is at version 7, not 6: someone changed it meanwhile; reload and try again (conflict)`);
    await screenshot(page, 'config-conflict');
    await page.reload();
    expect(await varRow('LATE').count()).toBe(0);
    expect(await stagedText()).toBe('staged Config v7 is not running yet (v3 runs). Set: FEATURE, OTHER. Deleted: GREETING. Settings: health_timeout_secs.');
    await screenshot(page, 'config-staged');

    await staged().getByRole('button', { name: 'Deploy staged config' }).click();
    await expect.poll(() => staged().getByRole('status').textContent()).toMatch(/^Deploying the staged config: deployment [0-9a-f]{8} is rolling it out\./);
    const id = await followDeployment();
    await expect.poll(() => configNote(id).textContent()).toBe('config v7: set FEATURE, OTHER; unset GREETING; settings health_timeout_secs');
    expect(await appEnv()).toMatchObject({ greeting: null, feature: 'on' });
    await page.goto(configPage());
    expect(await staged().count()).toBe(0);
    // Waited for, not glanced at: a loaded CI machine may still be rendering the page.
    await page.getByText('version 7 · v7 running').waitFor();
  });

  it('filters apps by team and the audit log by app, action and outcome, page by page; a team-limited user sees its team only', async () => {
    const admin = await (await newPortalContext(browser, ws.plane.url)).newPage();
    await admin.goto('/console');
    await signIn(admin, ADMIN);
    await admin.getByRole('heading', { name: 'Apps' }).waitFor();
    expect(await admin.locator('tbody tr').count()).toBe(2);
    expect(await admin.getByRole('row').filter({ hasText: OTHER_APP }).getByRole('cell', { name: TEAM }).count()).toBe(1);
    await admin.locator('#team-filter').selectOption(TEAM);
    await admin.getByRole('button', { name: 'Search' }).click();
    await admin.waitForURL((u) => u.searchParams.get('team') === TEAM);
    await expect.poll(() => admin.locator('tbody th').allTextContents()).toEqual([OTHER_APP]);
    await screenshot(admin, 'config-apps-by-team');

    // 55 staged changes of the other app: more than one audit page.
    for (let i = 0; i < 55; i++) await trpc('config.change', { app_name: OTHER_APP, set: { [`N_${i}`]: String(i) }, deploy: false }, ADMIN);

    await admin.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Audit log' }).click();
    await admin.getByRole('heading', { name: 'Audit log' }).waitFor();
    const filters = admin.getByRole('form', { name: 'Filter the audit log' });
    await filters.getByLabel('App', { exact: true }).fill(APP);
    await filters.getByLabel('Action', { exact: true }).fill('config.change');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await admin.waitForURL((u) => u.searchParams.get('app') === APP && u.searchParams.get('action') === 'config.change');
    const rows = admin.locator('tbody tr');
    // GREETING, API_KEY, FEATURE, unset GREETING, OTHER (by API) and the refused LATE.
    await expect.poll(() => rows.count()).toBe(6);
    for (const action of await admin.locator('tbody td[data-label="Action"] code').allTextContents()) expect(action).toBe('config.change');
    expect(await rows.first().textContent()).toContain('conflict');
    expect(await admin.content()).not.toContain(CANARY);
    await screenshot(admin, 'config-audit');

    await filters.getByLabel('Outcome', { exact: true }).fill('conflict');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await admin.waitForURL((u) => u.searchParams.get('outcome') === 'conflict');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().locator('td[data-label="Actor"]').textContent()).toBe('dora (deployer)');
    expect(await rows.first().locator('td[data-label="Team"]').textContent()).toBe('default');
    expect(await rows.first().locator('td[data-label="Action"]').textContent()).toContain('set: LATE');

    await filters.getByLabel('Outcome', { exact: true }).fill('');
    await filters.getByLabel('Since (UTC)').fill('2099-01-01T00:00');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await admin.getByText('No records match these filters.').waitFor();
    await filters.getByLabel('Since (UTC)').fill('2000-01-01T00:00');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await admin.waitForURL((u) => u.searchParams.get('since') === '2000-01-01T00:00');
    await expect.poll(() => rows.count()).toBe(6);

    await admin.goto(`/console/audit?app=${OTHER_APP}`);
    await expect.poll(() => rows.count()).toBe(50);
    await admin.getByRole('link', { name: 'Older' }).click();
    await admin.waitForURL((u) => u.searchParams.has('cursor') && u.searchParams.get('app') === OTHER_APP);
    // 55 changes and the app's creation: 56 records.
    await expect.poll(() => rows.count()).toBe(6);
    expect(await admin.locator('tbody td[data-label="Action"] code').last().textContent()).toBe('apps.create');
    expect(await admin.getByRole('link', { name: 'Older' }).count()).toBe(0);
    await admin.getByRole('link', { name: 'Newest' }).click();
    await expect.poll(() => rows.count()).toBe(50);

    const payer = await (await newPortalContext(browser, ws.plane.url)).newPage();
    await payer.goto('/console/audit');
    await signIn(payer, PAYER);
    await payer.getByRole('heading', { name: 'Audit log' }).waitFor();
    await expect.poll(() => payer.locator('tbody tr').count()).toBe(50);
    expect(new Set(await payer.locator('tbody td[data-label="Team"]').allTextContents())).toEqual(new Set([TEAM]));
    expect(await payer.locator('tbody td[data-label="Target"]').filter({ hasText: APP }).count()).toBe(0);
    await screenshot(payer, 'config-audit-team-limited');
    await payer.goto('/console');
    await expect.poll(() => payer.locator('tbody th').allTextContents()).toEqual([OTHER_APP]);
    await payer.goto(configPage());
    await payer.getByRole('heading', { name: 'No such app' }).waitFor();
    expect(await payer.getByRole('heading', { name: 'Config' }).count()).toBe(0);
  });
});
