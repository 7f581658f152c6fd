/**
 * The console's instance view in a real browser against a real embedded
 * control plane (the Drasi Server double as real processes): the machine
 * drawn from its definition with the current state marked and each
 * transition shown in order, the buttons and their refusals, failures,
 * a reload in the middle of transitions, the followed log, a screenshot.
 * Serial: the time bounds are about the page, not a machine busy with
 * several browsers and control planes at once.
 */
import { mkdir } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import type { ExecutionContext } from 'ava';
import { embedded } from '../helpers/embedded.js';
import { api } from '../helpers/http-api.js';
import { closeBrowser, newPage, pageProblems, testWithBrowser } from '../helpers/browser.js';

const { test } = testWithBrowser('console › instance');
test.after.always(closeBrowser);

const configuration = { sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }] };

interface Change {
  sequence: number;
  from: string | null;
  to: string;
  reason?: string;
}

async function setUp(t: ExecutionContext, name: string) {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  t.is((await call('POST', '/api/server/instances', { name, configuration })).status, 201);
  return { url, call };
}

/** Opens the instance's page and waits until it is drawn and the feed is live. */
async function open(t: ExecutionContext, url: string, name: string, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await newPage(t, viewport);
  await page.goto(`${url}/ui/instances/${name}`);
  await page.locator('svg.machine [aria-current="step"]').waitFor({ timeout: 10_000 });
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
  return page;
}

function current(page: Page) {
  return page.locator('svg.machine [aria-current="step"]').getAttribute('data-state');
}

async function changesOf(url: string, name: string): Promise<Change[]> {
  return (await (await fetch(`${url}/api/status/recent-changes?instanceId=${name}&limit=1000`)).json()) as Change[];
}

test.serial('every state is drawn by name; Pending is current; a start is shown step by step and lands on Running within a second', async (t) => {
  const { url, call } = await setUp(t, 'a1');
  const page = await open(t, url, 'a1');
  t.is(await page.title(), 'a1 · DRaaS console');
  const machine = (await (await fetch(`${url}/api/machines/instance`)).json()) as { states: { name: string }[] };
  t.true(machine.states.length >= 8);
  for (const { name } of machine.states) {
    t.is(await page.locator(`svg.machine [data-state="${name}"] .state-name`).textContent(), name);
  }
  t.is(await page.locator('[aria-current]').count(), 1);
  t.is(await current(page), 'Pending');
  t.is(await page.locator('svg.machine').getAttribute('aria-label'), 'Lifecycle of a1: currently Pending');
  t.is(await page.locator('svg.machine [data-state="Pending"]').getAttribute('aria-label'), 'Pending (initial state), current');
  t.is(await page.locator('svg.machine [data-state="Deleted"]').getAttribute('aria-label'), 'Deleted (final state)');
  t.true(await page.locator('svg.machine [data-state="Deleted"]').evaluate((node) => node.classList.contains('final')));

  // In the page (a string: the tests' TypeScript has no DOM types): record each state that becomes current.
  await page.evaluate(`{
    const seen = [document.querySelector('[aria-current="step"]')?.getAttribute('data-state') ?? '?'];
    window.__seen = seen;
    new MutationObserver((records) => {
      for (const record of records) {
        if (record.target.getAttribute('aria-current') === 'step') seen.push(record.target.getAttribute('data-state') ?? '?');
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['aria-current'] });
  }`);
  t.is((await call('POST', '/api/server/instances/a1/start')).body.status, 'Running');
  await page.locator('svg.machine [data-state="Running"][aria-current="step"]').waitFor({ timeout: 1_000 });
  t.is(await page.evaluate(`getComputedStyle(document.querySelector('.edge.taking path')).animationName`), 'taking', 'the edge just taken plays');
  const seen = (await page.evaluate('window.__seen')) as string[];
  const order = ['Pending', 'Starting', 'Running'].map((state) => seen.indexOf(state));
  t.true(order.every((index, i) => index >= 0 && (i === 0 || index > order[i - 1]!)), `seen: ${seen.join(' → ')}`);
  t.is(await page.locator('[aria-current]').count(), 1);
  t.is(await page.locator('.head-status').textContent(), 'Running');
  t.deepEqual(pageProblems(page), []);
});

test.serial('Stop: the page shows Stopped, the timeline Stopping and Stopped', async (t) => {
  const { url, call } = await setUp(t, 'b1');
  await call('POST', '/api/server/instances/b1/start');
  const page = await open(t, url, 'b1');
  t.is(await current(page), 'Running');
  // Reduced motion: the edge is still marked while it is taken, without the animation.
  await page.emulateMedia({ reducedMotion: 'reduce' });
  const stop = page.getByRole('button', { name: 'Stop', exact: true });
  await stop.click();
  await page.locator('svg.machine .edge.taking[data-edge="Running->Stopping"]').waitFor({ state: 'attached', timeout: 2_000 });
  t.is(await page.evaluate(`getComputedStyle(document.querySelector('.edge.taking path')).animationName`), 'none');
  await page.locator('svg.machine [data-state="Stopped"][aria-current="step"]').waitFor({ timeout: 5_000 });
  await page.locator('.timeline-entry[data-to="Stopped"]').waitFor({ timeout: 2_000 });
  t.is(await page.locator('.timeline-entry[data-to="Stopping"]').count(), 1);
  t.regex((await page.locator('.timeline-entry[data-to="Stopped"]').textContent()) ?? '', /Stopping → Stopped/);
  t.is(await page.locator('.head-status').textContent(), 'Stopped');
  t.is(await page.locator('.generation-line').textContent(), 'generation 1 saved; not running');
  t.false(await stop.isDisabled(), 'enabled again once answered');
  t.deepEqual(pageProblems(page), []);
});

test.serial('a refused request (Restart while Pending) shows the 409 problem in an alert', async (t) => {
  const { url, call } = await setUp(t, 'c1');
  await call('POST', '/api/server/instances', { name: 'c2', configuration });
  const refused = await call('POST', '/api/server/instances/c2/restart');
  t.is(refused.status, 409, 'restart is illegal in Pending');
  const page = await open(t, url, 'c1');
  await page.getByRole('button', { name: 'Restart', exact: true }).click();
  const alert = page.getByRole('alert');
  await alert.locator('.problem').waitFor({ timeout: 2_000 });
  const text = (await alert.textContent()) ?? '';
  t.regex(text, /409/);
  t.true(text.includes(String(refused.body['detail']).replace('c2', 'c1')), text);
  t.is(await current(page), 'Pending');
  t.deepEqual(pageProblems(page), []);
});

test.serial('Delete asks again in the page, then shows the instance Deleted with a way back; an unknown instance is a 404 with a way back', async (t) => {
  const { url } = await setUp(t, 'g1');
  const page = await open(t, url, 'g1');
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  t.is(await page.locator('svg.machine [aria-current="step"]').getAttribute('data-state'), 'Pending', 'nothing happens on the first click');
  await page.getByRole('button', { name: 'Confirm delete' }).click();
  await page.getByText('g1 was deleted.').waitFor({ timeout: 3_000 });
  await page.locator('svg.machine [data-state="Deleted"][aria-current="step"]').waitFor({ timeout: 2_000 });
  t.is(await page.locator('.head-status').textContent(), 'Deleted');
  t.is((await fetch(`${url}/api/server/instances/g1`)).status, 404);
  await page.getByRole('link', { name: 'Back to the fleet' }).click();
  await page.waitForURL(`${url}/ui/`);

  await page.goto(`${url}/ui/instances/nothing-here`);
  const alert = page.getByRole('alert').filter({ hasText: '404' });
  await alert.waitFor({ timeout: 3_000 });
  t.regex((await alert.textContent()) ?? '', /nothing-here/);
  t.true(await alert.getByRole('link', { name: 'Back to the fleet' }).isVisible());
  t.deepEqual(pageProblems(page), []);
});

test.serial('a killed server: the timeline shows Failed with its reason, and the failure details', async (t) => {
  const { url, call } = await setUp(t, 'd1');
  const started = await call('POST', '/api/server/instances/d1/start');
  const page = await open(t, url, 'd1');
  process.kill(Number(started.body.runtime!.workloadId), 'SIGKILL');
  const failed = page.locator('.timeline-entry[data-to="Failed"]').first();
  await failed.waitFor({ timeout: 10_000 });
  const change = (await changesOf(url, 'd1')).find((entry) => entry.to === 'Failed')!;
  t.truthy(change.reason);
  const entry = (await failed.textContent()) ?? '';
  t.regex(entry, /Running → Failed/);
  t.regex(entry, /failed/);
  t.true(entry.includes(change.reason!), entry);
  await page.locator('.failure-panel .failure-reason').waitFor({ timeout: 2_000 });
  t.truthy(await page.locator('.failure-panel .failure-reason').textContent());
  t.deepEqual(pageProblems(page), []);
});

test.serial('a reload in the middle of a restart: the timeline holds every recorded change once, no gap', async (t) => {
  const { url, call } = await setUp(t, 'e1');
  await call('POST', '/api/server/instances/e1/start');
  const page = await open(t, url, 'e1');
  const restart = call('POST', '/api/server/instances/e1/restart');
  await page.reload();
  t.is((await restart).body.status, 'Running');
  // The change log is written just after the answer: wait for the restart's last change (… → Stopping → Starting → Running).
  let changes = await changesOf(url, 'e1');
  for (let tries = 0; tries < 50 && !(changes.length >= 6 && changes.at(-1)!.to === 'Running'); tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    changes = await changesOf(url, 'e1');
  }
  const recorded = changes.map((change) => change.sequence);
  const newest = recorded.at(-1)!;
  await page.locator(`.timeline-entry[data-sequence="${newest}"]`).waitFor({ timeout: 5_000 });
  const shown = (await page.locator('.timeline-entry').evaluateAll((items) => items.map((item) => Number(item.getAttribute('data-sequence'))))).reverse();
  t.deepEqual(shown, recorded);
  await page.locator('svg.machine [data-state="Running"][aria-current="step"]').waitFor({ timeout: 1_000 });
  t.deepEqual(pageProblems(page), []);
});

test.serial('the log view follows what the server prints', async (t) => {
  const { url, call } = await setUp(t, 'f1');
  await call('POST', '/api/server/instances/f1/start');
  const page = await open(t, url, 'f1');
  const log = page.getByRole('log');
  await log.filter({ hasText: 'Drasi Server listening on' }).waitFor({ timeout: 5_000 });
  t.regex((await log.textContent()) ?? '', /starting with config/);
  t.deepEqual(pageProblems(page), []);
});

test.serial('screenshot: a Running instance after a few transitions', async (t) => {
  const { url, call } = await setUp(t, 'analytics');
  await call('POST', '/api/server/instances/analytics/start');
  await call('POST', '/api/server/instances/analytics/stop');
  await call('POST', '/api/server/instances/analytics/start');
  const page = await open(t, url, 'analytics', { width: 1280, height: 900 });
  await page.getByRole('log').filter({ hasText: 'listening' }).waitFor({ timeout: 5_000 });
  const text = page.locator('.config-text');
  t.is(await text.getAttribute('aria-label'), 'Configuration as YAML');
  t.regex((await text.textContent()) ?? '', /^sources:\n {2}- kind: mock\n/);
  await page.getByRole('button', { name: 'JSON' }).click();
  t.deepEqual(JSON.parse((await text.textContent()) ?? ''), configuration);
  await page.getByRole('button', { name: 'YAML' }).click();
  t.is(await page.locator('.generation').textContent(), 'generation 1 runs');
  await mkdir(new URL('../../docs/images/', import.meta.url), { recursive: true });
  await page.screenshot({ path: new URL('../../docs/images/console-instance.png', import.meta.url).pathname, fullPage: true });
  t.is(await current(page), 'Running');
  t.deepEqual(pageProblems(page), []);
});
