// Real Chromium for the portal tests: Debian's /usr/bin/chromium driven by playwright-core.
// Never downloads a browser (STACK.md). Screenshots land in tests/.artifacts/screenshots so a
// person can look at every page the tests visited.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.AETHER_CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '../.artifacts/screenshots');

// Without the background-networking flags Chromium keeps dialling Google on this closed
// network; without --no-sandbox it refuses to start as root.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: npm test installs it (apt-get install chromium)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** A fresh context (own cookies) at a laptop or phone width. */
export async function newPortalContext(browser: Browser, baseURL: string, width: 'laptop' | 'phone' = 'laptop'): Promise<BrowserContext> {
  const viewport = width === 'laptop' ? { width: 1366, height: 900 } : { width: 390, height: 844 };
  return browser.newContext({ baseURL, viewport });
}

/** Saves a full-page screenshot as tests/.artifacts/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
