/**
 * The console against a control plane with --auth, in a real browser: it
 * asks for a token when the API says 401, keeps it for the tab, sends it on
 * every request and on the event stream (read with fetch: never a token in
 * a URL), follows the fleet live, shows a viewer's 403 as the problem, and
 * resumes the stream from the last event after a reconnect.
 */
import type { Page } from 'playwright-core';
import { FileTokenStore } from '../../src/auth/file-token-store.js';
import { embedded } from '../helpers/embedded.js';
import { closeBrowser, newPage, pageProblems, testWithBrowser } from '../helpers/browser.js';

const { test } = testWithBrowser('console › auth');
test.after.always(closeBrowser);

const configuration = { sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }] };

async function setUp(t: Parameters<typeof embedded>[0]) {
  const { draas, dataDir } = await embedded(t, { auth: {} });
  const listener = await draas.listen({ port: 0 });
  const { url } = listener;
  const store = new FileTokenStore(dataDir);
  const viewer = (await store.add('viewer', 'viewer')).token;
  const admin = (await store.add('admin', 'admin')).token;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined };
  };
  return { url, viewer, admin, call, listener };
}

/** Records every URL the page asks for, to show no token travels in one. */
function requestedUrls(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (request) => urls.push(request.url()));
  return urls;
}

async function signIn(page: Page, token: string): Promise<void> {
  const dialog = page.getByRole('dialog', { name: 'Sign in' });
  await dialog.waitFor({ timeout: 10_000 });
  await dialog.getByLabel('API token').fill(token);
  await dialog.getByRole('button', { name: 'Use token' }).click();
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
}

test.serial('a 401 asks for a token; with it the fleet loads and follows changes live over the authenticated stream', async (t) => {
  const { url, viewer, call } = await setUp(t);
  const page = await newPage(t);
  const urls = requestedUrls(page);
  await page.goto(`${url}/ui`);
  await signIn(page, viewer);
  t.is(await page.getByRole('button', { name: 'Sign out' }).count(), 1);

  t.is((await call('POST', '/api/server/instances', { name: 'live-1', configuration })).status, 201);
  await page.locator('.fleet-body [data-instance="live-1"]').waitFor({ timeout: 5_000 });
  t.is((await call('POST', '/api/server/instances/live-1/start')).status, 200);
  await page.locator('.fleet-body [data-instance="live-1"][data-status="Running"]').waitFor({ timeout: 5_000 });

  // The token stays in the tab: a reload needs no new sign-in.
  await page.reload();
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
  await page.locator('.fleet-body [data-instance="live-1"][data-status="Running"]').waitFor({ timeout: 5_000 });
  t.is(await page.getByRole('dialog').count(), 0);
  t.false(urls.some((requested) => requested.includes('draas_')), 'no token in any URL');
  t.deepEqual(pageProblems(page), []);
});

test.serial('a viewer pressing Stop sees the 403 problem naming the role it needs', async (t) => {
  const { url, viewer, call } = await setUp(t);
  t.is((await call('POST', '/api/server/instances', { name: 'held', configuration })).status, 201);
  t.is((await call('POST', '/api/server/instances/held/start')).status, 200);
  const page = await newPage(t);
  await page.goto(`${url}/ui/instances/held`);
  await signIn(page, viewer);
  await page.locator('svg.machine [aria-current="step"][data-state="Running"]').waitFor({ timeout: 10_000 });
  await page.getByRole('button', { name: 'Stop' }).click();
  const alert = page.getByRole('alert').filter({ hasText: '403' });
  await alert.waitFor({ timeout: 5_000 });
  t.regex((await alert.textContent()) ?? '', /403 Forbidden.*stopInstance needs the role operator; this token has viewer/s);
  t.is((await call('GET', '/api/server/instances/held')).body?.status, 'Running', 'nothing was stopped');
});

test.serial('a refused token asks again; the stream resumes from the last event after a reconnect (Last-Event-ID)', async (t) => {
  const { url, viewer, call, listener } = await setUp(t);
  const page = await newPage(t);
  await page.goto(`${url}/ui`);
  const first = page.getByRole('dialog', { name: 'Sign in' });
  await first.waitFor({ timeout: 10_000 });
  await first.getByLabel('API token').fill('draas_not-a-real-token');
  await first.getByRole('button', { name: 'Use token' }).click();
  // Refused: the form comes back saying so.
  await page.getByRole('dialog', { name: 'Sign in' }).getByText('The token was refused.').waitFor({ timeout: 10_000 });
  await page.getByRole('dialog').getByLabel('API token').fill(viewer);
  const lastEventIds: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/events')) lastEventIds.push(request.headers()['last-event-id'] ?? '');
  });
  await page.getByRole('dialog').getByRole('button', { name: 'Use token' }).click();
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
  t.is((await call('POST', '/api/server/instances', { name: 'before', configuration })).status, 201);
  await page.locator('.fleet-body [data-instance="before"]').waitFor({ timeout: 5_000 });

  // Cut every connection (as a proxy or a restart would): the feed reconnects with the last id it saw and gets what it missed.
  listener.server.closeAllConnections();
  // This test's own kept-alive connection was cut too: a failed send is sent again.
  const created = await call('POST', '/api/server/instances', { name: 'while-away', configuration }).catch(() => call('POST', '/api/server/instances', { name: 'while-away', configuration }));
  t.is(created.status, 201);
  await page.locator('.fleet-body [data-instance="while-away"]').waitFor({ timeout: 10_000 });
  t.true(lastEventIds.slice(1).some((id) => /^\d+$/.test(id)), `reconnects sent Last-Event-ID: ${JSON.stringify(lastEventIds)}`);
});
