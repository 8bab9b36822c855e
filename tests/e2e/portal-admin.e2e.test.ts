import { createHash, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, newPortalContext, screenshot } from '../support/browser';
import { startE2EWorkspace, type E2EWorkspace } from '../support/control-plane-process';
import { tarGz } from '../support/artifacts';

const ADMIN = `e2e-admin-${randomUUID()}`;
const DEPLOYER = `e2e-deployer-${randomUUID()}`;
const READER = `e2e-reader-${randomUUID()}`;

interface QueueSummary {
  name: string;
  paused: boolean;
  counts: Record<string, number>;
}

describe('the admin portal in a real browser', () => {
  let ws: E2EWorkspace;
  let browser: Browser;
  let url: string;

  /** tRPC over HTTP with a bearer token: status and parsed body. */
  async function trpc(procedure: string, input: unknown, token: string, kind: 'query' | 'mutation') {
    const res =
      kind === 'query'
        ? await fetch(`${url}/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input ?? null))}`, { headers: { authorization: `Bearer ${token}` } })
        : await fetch(`${url}/api/trpc/${procedure}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(input) });
    return { status: res.status, body: (await res.json()) as { result?: { data: unknown }; error?: { message: string; data: { code: string } } } };
  }
  const queues = async () => (await trpc('admin.queues.list', undefined, ADMIN, 'query')).body.result!.data as QueueSummary[];
  const verifyCounts = async () => (await queues()).find((q) => q.name === 'artifact-verify')!.counts;

  async function waitFor<T>(load: () => Promise<T>, done: (v: T) => boolean, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    let v = await load();
    while (!done(v) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      v = await load();
    }
    return v;
  }

  /**
   * A verification job that fails for real: the artifact's bytes are uploaded and completed
   * while the queue is paused, then the store's record of them (the fs driver's sidecar) is
   * corrupted, so every attempt's read of it throws, and BullMQ gives up after the job's attempts.
   */
  async function failAVerifyJob(app: string): Promise<string> {
    expect((await trpc('apps.create', { name: app }, DEPLOYER, 'mutation')).status).toBe(200);
    const bytes = tarGz({ 'index.js': `// ${randomUUID()}\n` });
    const digest = createHash('sha256').update(bytes).digest('hex');
    const presigned = (await trpc('artifacts.presign', { app_name: app, digest, size_bytes: bytes.length }, DEPLOYER, 'mutation')).body.result!.data as {
      upload_url: string;
      headers: Record<string, string>;
      storage_key: string;
    };
    expect((await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) })).status).toBe(200);
    // Complete checks the object itself, so the record breaks between complete and the job's run.
    expect((await trpc('admin.queues.pause', { queue: 'artifact-verify' }, ADMIN, 'mutation')).status).toBe(200);
    const completed = await trpc('artifacts.complete', { app_name: app, digest, size_bytes: bytes.length }, DEPLOYER, 'mutation');
    expect(completed.status).toBe(200);
    await writeFile(path.join(ws.work, 'data', 'objects', ...presigned.storage_key.split('/')) + '.meta.json', '{ not json');
    expect((await trpc('admin.queues.resume', { queue: 'artifact-verify' }, ADMIN, 'mutation')).status).toBe(200);
    return (completed.body.result!.data as { artifact_id: string }).artifact_id;
  }

  async function signIn(page: Page, token: string) {
    await page.goto('/console');
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Apps' }).first().waitFor();
  }

  beforeAll(async () => {
    // Verification by the job (as for a download-and-hash on S3): its failures are what the admin sees.
    ws = await startE2EWorkspace('admin', [`${ADMIN}:admin:ada`, `${DEPLOYER}:deployer:dora`, `${READER}:reader:rita`], { AETHER_VERIFY_INLINE: 'false' });
    url = ws.plane.url;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await ws?.close();
  });

  it('an admin sees a failed job, reads its error and stack, retries it, and sees the counts change', async () => {
    const artifactId = await failAVerifyJob('broken-store');
    // Five attempts with exponential backoff from 500 ms: about 8 s until BullMQ gives up.
    const failedCounts = await waitFor(verifyCounts, (c) => c.failed === 1, 30_000);
    expect(failedCounts.failed).toBe(1);

    const context = await newPortalContext(browser, url);
    const page = await context.newPage();
    await signIn(page, ADMIN);
    await page.getByRole('link', { name: 'Queues' }).click();
    await page.getByRole('heading', { name: 'Job queues' }).waitFor();
    const card = page.locator('[data-queue="artifact-verify"]');
    await expect(card.locator('[data-state="failed"]').innerText()).resolves.toContain('1');
    await screenshot(page, 'admin-queues');

    await card.getByRole('link', { name: 'artifact-verify' }).click();
    const row = page.locator(`[data-job="verify-${artifactId}"]`);
    await row.waitFor();
    // The subject resolves to its app; the error is the store's, in words.
    await expect(row.innerText()).resolves.toContain('broken-store');
    await expect(row.innerText()).resolves.toMatch(/JSON/);
    await expect(row.innerText()).resolves.toContain('5 / 5');
    await screenshot(page, 'admin-queue-failed');

    await row.getByRole('link', { name: `verify-${artifactId}` }).click();
    await page.getByRole('heading', { name: 'Error' }).waitFor();
    const errorText = await page.locator('section[aria-labelledby="job-error"] pre').first().innerText();
    expect(errorText).toMatch(/JSON/);
    await page.getByText(/Stack of each failed attempt/).click();
    await expect(page.getByLabel('Stack of failed attempt 1').innerText()).resolves.toMatch(/at /);
    await expect(page.locator('section[aria-labelledby="job-data"] pre').first().innerText()).resolves.toContain(artifactId);
    await screenshot(page, 'admin-job-failed');

    await page.getByRole('button', { name: 'Retry job' }).click();
    // The page re-renders with the job's new state (queued, running, then succeeded): no Retry button.
    await page.locator('h1 .badge', { hasText: /queued|running|succeeded/ }).waitFor({ timeout: 15_000 });
    await expect(page.getByRole('button', { name: 'Retry job' }).count()).resolves.toBe(0);
    // The retried attempt finds the artifact already marked failed and completes: failed 1 -> 0.
    const after = await waitFor(verifyCounts, (c) => c.failed === 0 && (c.completed ?? 0) >= 1, 15_000);
    expect(after.failed).toBe(0);
    await page.goto('/console/admin/queues');
    await expect(page.locator('[data-queue="artifact-verify"] [data-state="failed"]').innerText()).resolves.toContain('0');
    await expect(page.locator('[data-queue="artifact-verify"] [data-state="completed"]').innerText()).resolves.toMatch(/[1-9]/);
    await screenshot(page, 'admin-queues-after-retry');

    await page.goto('/console/admin/metrics');
    await page.getByRole('heading', { name: 'Metrics' }).waitFor();
    await page.getByRole('heading', { name: 'Jobs per queue' }).waitFor();
    await expect(page.getByText('Failed verifications').locator('..').innerText()).resolves.toContain('1');
    await expect(page.locator('figure[data-queue="artifact-verify"]').innerText()).resolves.toMatch(/[1-9]\d* failed/);
    // Recharts draws after hydration: wait for an SVG before the picture.
    await page.locator('.recharts-surface').first().waitFor();
    await screenshot(page, 'admin-metrics');

    const phone = await newPortalContext(browser, url, 'phone');
    await phone.addCookies([{ name: 'aether_session', value: ADMIN, url }]);
    const phonePage = await phone.newPage();
    await phonePage.goto('/console/admin/queues');
    await phonePage.getByRole('heading', { name: 'Job queues' }).waitFor();
    await screenshot(phonePage, 'admin-queues-phone');
    await phonePage.goto('/console/admin/metrics');
    await phonePage.locator('.recharts-surface').first().waitFor();
    await screenshot(phonePage, 'admin-metrics-phone');
    await phone.close();
    await context.close();
  });

  it('creating a token shows the secret once; it works, then revoking it stops it', async () => {
    const context = await newPortalContext(browser, url);
    await context.addCookies([{ name: 'aether_session', value: ADMIN, url }]);
    const page = await context.newPage();
    await page.goto('/console/admin/tokens');
    await page.getByLabel('Name').fill('ci-e2e');
    await page.getByLabel('Role').selectOption('deployer');
    await page.getByLabel('Expires after (days)').fill('7');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('new-token').innerText()).trim();
    expect(secret).toMatch(/^aet_/);
    await screenshot(page, 'admin-tokens-created');

    const whoami = async (token: string) => (await fetch(`${url}/api/trpc/session.whoami`, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await whoami(secret)).toBe(200);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await expect(page.getByTestId('new-token').count()).resolves.toBe(0);

    // Never again: not on a fresh load of the page, only its last four characters.
    await page.reload();
    const html = await page.content();
    expect(html).not.toContain(secret);
    const row = page.locator('tr', { hasText: 'ci-e2e' });
    await expect(row.innerText()).resolves.toContain(secret.slice(-4));
    await screenshot(page, 'admin-tokens');

    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
    // Revoked tokens leave the list of active ones at once.
    await row.waitFor({ state: 'detached' });
    expect(await whoami(secret)).toBe(401);
    await context.close();
  });

  it('readers and deployers see no admin nav, get a refusal on the pages, and FORBIDDEN from every admin procedure', async () => {
    for (const [token, role] of [[READER, 'reader'], [DEPLOYER, 'deployer']] as const) {
      const context = await newPortalContext(browser, url);
      await context.addCookies([{ name: 'aether_session', value: token, url }]);
      const page = await context.newPage();
      await page.goto('/console');
      await page.getByRole('heading', { name: 'Apps' }).waitFor();
      await expect(page.locator('a[href^="/console/admin"]').count()).resolves.toBe(0);
      for (const path of ['/console/admin/queues', '/console/admin/queues/artifact-verify?state=failed', '/console/admin/metrics', '/console/admin/tokens']) {
        await page.goto(path);
        await page.getByRole('alert').filter({ hasText: `you are signed in as ${role}` }).waitFor();
        await expect(page.getByRole('button', { name: /Retry|Pause|Create token|Revoke/ }).count()).resolves.toBe(0);
      }
      await screenshot(page, `admin-refused-${role}`);
      await context.close();

      const queue = 'artifact-verify';
      const calls: [string, unknown, 'query' | 'mutation'][] = [
        ['admin.queues.list', undefined, 'query'],
        ['admin.queues.jobs', { queue, state: 'failed' }, 'query'],
        ['admin.queues.job', { queue, job_id: 'x' }, 'query'],
        ['admin.queues.retry', { queue, job_id: 'x' }, 'mutation'],
        ['admin.queues.retryAllFailed', { queue }, 'mutation'],
        ['admin.queues.remove', { queue, job_id: 'x' }, 'mutation'],
        ['admin.queues.clean', { queue, state: 'completed' }, 'mutation'],
        ['admin.queues.pause', { queue }, 'mutation'],
        ['admin.queues.resume', { queue }, 'mutation'],
        ['admin.metrics.dashboard', { range: '24h' }, 'query'],
        ['admin.tokens.list', undefined, 'query'],
        ['admin.tokens.create', { name: 'sneaky', role: 'admin' }, 'mutation'],
        ['admin.tokens.revoke', { id: randomUUID() }, 'mutation'],
      ];
      for (const [procedure, input, kind] of calls) {
        const res = await trpc(procedure, input, token, kind);
        expect(res.status, `${procedure} as ${role}`).toBe(403);
        expect(res.body.error?.data.code).toBe('forbidden');
      }
    }
    // Nothing the refused calls asked for happened.
    expect((await queues()).every((q) => !q.paused)).toBe(true);
    const tokens = (await trpc('admin.tokens.list', { include_inactive: true }, ADMIN, 'query')).body.result!.data as { name: string }[];
    expect(tokens.some((t) => t.name === 'sneaky')).toBe(false);
  });
});
