/**
 * test/support/chromium — launches Debian's Chromium through playwright-core for the dashboard tests and benchmark.
 * The flags keep it off the network (this machine's network is closed: without the background-networking flags
 * Chromium's own connections are refused and slow it down) and give each launch a fresh profile.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** CHROMIUM_PATH is Debian's chromium (.ci/run installs it). */
export const CHROMIUM_PATH = process.env.CUSTODY_CHROMIUM ?? '/usr/bin/chromium';

/** chromiumMissing says why the browser tests must skip, or undefined when Chromium is there. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH) ? undefined : `SKIPPED: ${CHROMIUM_PATH} is missing — install Debian's chromium (apt-get install chromium; .ci/run does)`;
}

/** Launched is a browser with its own profile directory (removed on close). */
export interface Launched {
  browser: BrowserContext;
  close(): Promise<void>;
}

/** launchChromium starts headless Chromium with a fresh --user-data-dir (a persistent context on a temp profile). */
export async function launchChromium(options: { bypassCSP?: boolean } = {}): Promise<Launched> {
  const profile = mkdtempSync(join(tmpdir(), 'custody-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 800 },
    bypassCSP: options.bypassCSP ?? false,
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export type { Browser };
