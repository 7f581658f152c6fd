/**
 * A real browser for the console tests: Debian's `chromium` driven by
 * `playwright-core` (which never downloads a browser). On a laptop without
 * chromium the suite registers one SKIPPED notice; under
 * DRAAS_REQUIRE_ENGINES=1 (CI) a missing chromium fails the run.
 *
 * Every page a test opens records what went wrong inside it (uncaught
 * errors, console errors other than the browser's own note of a refused request); `pageProblems` returns them so a
 * test can require a clean page.
 */
import { existsSync } from 'node:fs';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { chromium, type Browser, type Page } from 'playwright-core';
import { inert, type AvaTest } from './engines.js';

export const chromiumPath = process.env.DRAAS_CHROMIUM ?? '/usr/bin/chromium';

/** `test`, or an inert stand-in plus one SKIPPED notice when chromium is missing. */
export function testWithBrowser(suite: string): { test: AvaTest; available: boolean } {
  if (existsSync(chromiumPath)) return { test, available: true };
  const message = `${suite}: no browser at ${chromiumPath} (install Debian's chromium, or point DRAAS_CHROMIUM at one)`;
  if (process.env.DRAAS_REQUIRE_ENGINES === '1') throw new Error(`${message}, and DRAAS_REQUIRE_ENGINES=1 requires it`);
  test(`${suite}: SKIPPED — chromium not found (set DRAAS_REQUIRE_ENGINES=1 to make this a failure)`, (t) => {
    t.log(message);
    t.pass();
  });
  return { test: inert, available: false };
}

let shared: Promise<Browser> | undefined;

/** One headless chromium per test file (each test gets its own context); closed when the process ends. */
export function browser(): Promise<Browser> {
  shared ??= chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--disable-gpu', '--disable-dev-shm-usage'] });
  return shared;
}

export async function closeBrowser(): Promise<void> {
  if (shared === undefined) return;
  const open = shared;
  shared = undefined;
  await (await open).close();
}

const problems = new WeakMap<Page, string[]>();

/** A new page in a fresh context, closed at the end of the test. */
export async function newPage(t: ExecutionContext, viewport = { width: 1280, height: 860 }): Promise<Page> {
  const context = await (await browser()).newContext({ viewport, reducedMotion: 'no-preference' });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const seen: string[] = [];
  problems.set(page, seen);
  page.on('pageerror', (error) => seen.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    // A refused API call (a 409 the page shows) is logged by the browser itself; that is not the page's fault.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) seen.push(`console: ${message.text()}`);
  });
  return page;
}

/** What went wrong in the page so far (uncaught errors, console errors). */
export function pageProblems(page: Page): string[] {
  return [...(problems.get(page) ?? [])];
}
