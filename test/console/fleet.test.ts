/**
 * The console's fleet view in a real browser against a real embedded control
 * plane (the Drasi Server double as real child processes): live updates
 * from the event feed, filters kept in the URL, a windowed list that stays
 * light at 10,000 instances, and the screenshot the docs show.
 */
import { mkdir } from 'node:fs/promises';
import type { Page, Route } from 'playwright-core';
import type { InstanceView } from '../../src/api/instance-view.js';
import { sampleView } from '../helpers/instance-views.js';
import { embedded } from '../helpers/embedded.js';
import { closeBrowser, newPage, pageProblems, testWithBrowser } from '../helpers/browser.js';
import { api } from '../helpers/http-api.js';
import { waitFor } from '../helpers/processes.js';

const { test } = testWithBrowser('console › fleet');
// One at a time: the live test times the page against the API's answer (within a second), which a busy machine would blur.
test.after.always(closeBrowser);

const configuration = { sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }] };

const row = (page: Page, name: string, status?: string) =>
  page.locator(`.fleet-body [data-instance="${name}"]${status === undefined ? '' : `[data-status="${status}"]`}`);
const count = (page: Page, status: string) => page.locator(`[data-count-status="${status}"] .fleet-count`).textContent();

async function openFleet(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 5_000 });
}

test.serial('an instance created, started, stopped and deleted over the API shows each step live', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const page = await newPage(t);
  await openFleet(page, `${url}/ui`);
  await page.getByText('No instances yet — create one with POST /api/server/instances').waitFor({ timeout: 2_000 });

  t.is((await call('POST', '/api/server/instances', { name: 'a1', configuration })).status, 201);
  await row(page, 'a1').waitFor({ timeout: 2_000 });
  const started = await call('POST', '/api/server/instances/a1/start');
  t.is(started.body.status, 'Running');
  const answeredAt = Date.now();
  // Within a second of the API's answer, from the event feed alone (the page does not poll).
  await row(page, 'a1', 'Running').waitFor({ timeout: 1_000 });
  t.log(`Running shown ${Date.now() - answeredAt} ms after the start answered`);
  t.is(await count(page, 'Running'), '1');
  t.is(await page.locator('[data-count="total"]').textContent(), '1');
  const cells = await row(page, 'a1').locator('[role="cell"]').allTextContents();
  t.is(cells[0], 'a1');
  t.is(cells[2], 'process');
  t.is(cells[3], 'Running / Running');
  t.regex(cells[6] ?? '', /Starting → Running/);
  t.is(await row(page, 'a1').getByRole('link', { name: 'a1' }).getAttribute('href'), 'instances/a1');

  t.is((await call('POST', '/api/server/instances/a1/stop')).body.status, 'Stopped');
  await row(page, 'a1', 'Stopped').waitFor({ timeout: 1_000 });
  t.is(await count(page, 'Running'), '0');
  t.is(await count(page, 'Stopped'), '1');

  t.is((await call('DELETE', '/api/server/instances/a1')).status, 204);
  await row(page, 'a1').waitFor({ state: 'detached', timeout: 5_000 });
  t.is(await page.locator('[data-count="total"]').textContent(), '0');
  t.deepEqual(pageProblems(page), []);
});

test.serial('filters by status and name are kept in the URL and survive a reload', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  for (const name of ['f-run', 'f-stop', 'f-new']) await call('POST', '/api/server/instances', { name, configuration });
  await call('POST', '/api/server/instances/f-run/start');
  await call('POST', '/api/server/instances/f-stop/start');
  await call('POST', '/api/server/instances/f-stop/stop');
  const page = await newPage(t);
  await openFleet(page, `${url}/ui`);
  await row(page, 'f-new', 'Pending').waitFor({ timeout: 2_000 });
  // The URL follows a change at once, the list with the next frame: wait (briefly) for the rows to match.
  const shownNames = async (expected?: string[]) => {
    const read = () => page.locator('.fleet-body [data-instance]').evaluateAll((rows) => rows.map((element) => element.getAttribute('data-instance')).sort());
    const until = Date.now() + 2_000;
    let names = await read();
    while (expected !== undefined && JSON.stringify(names) !== JSON.stringify(expected) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      names = await read();
    }
    return names;
  };

  await page.getByLabel('Status', { exact: true }).selectOption('Running');
  await page.waitForURL(/\?status=Running$/);
  t.deepEqual(await shownNames(['f-run']), ['f-run']);
  t.is(await page.locator('[data-count="shown"]').textContent(), '1');
  t.is(await page.locator('[data-count="total"]').textContent(), '3');
  await page.reload();
  await row(page, 'f-run').waitFor({ timeout: 2_000 });
  t.deepEqual(await shownNames(['f-run']), ['f-run']);
  t.is(await page.getByLabel('Status', { exact: true }).inputValue(), 'Running');

  // A count is a filter too: choosing Pending switches to it.
  await page.locator('[data-count-status="Pending"]').click();
  await page.waitForURL(/\?status=Pending$/);
  t.deepEqual(await shownNames(['f-new']), ['f-new']);
  t.is(await page.locator('[data-count-status="Pending"]').getAttribute('aria-pressed'), 'true');

  await page.getByLabel('Status', { exact: true }).selectOption('');
  await page.getByLabel('Name').fill('stop');
  await page.waitForURL(/\?q=stop$/);
  t.deepEqual(await shownNames(['f-stop']), ['f-stop']);
  await page.reload();
  await row(page, 'f-stop').waitFor({ timeout: 2_000 });
  t.deepEqual(await shownNames(['f-stop']), ['f-stop']);
  t.is(await page.getByLabel('Name').inputValue(), 'stop');

  await page.getByLabel('Name').fill('nothing-like-this');
  await page.getByText('No instance matches the filter').waitFor({ timeout: 1_000 });
  t.deepEqual(await shownNames([]), []);
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.waitForURL(/\/ui$/);
  t.deepEqual(await shownNames(['f-new', 'f-run', 'f-stop']), ['f-new', 'f-run', 'f-stop']);

  // Sorted by last transition, newest first (the DOM keeps the list's order).
  await page.getByRole('button', { name: 'Last transition' }).click();
  await page.waitForURL(/\?sort=transition$/);
  const inOrder = () => page.locator('.fleet-body [data-instance]').evaluateAll((rows) => rows.map((element) => element.getAttribute('data-instance')).join(' '));
  // Polled from here: the page's CSP forbids eval, which Playwright uses to poll a string predicate in the page.
  await waitFor(async () => (await inOrder()) === 'f-stop f-run f-new', 2_000, 'the rows in order of last transition');
  t.is(await inOrder(), 'f-stop f-run f-new');
  t.is(await page.getByRole('columnheader', { name: 'Last transition' }).getAttribute('aria-sort'), 'descending');

  // Opening a filtered link directly.
  await page.goto(`${url}/ui?status=Stopped&platform=process&q=f-`);
  await row(page, 'f-stop').waitFor({ timeout: 2_000 });
  t.deepEqual(await shownNames(['f-stop']), ['f-stop']);
  t.is(await page.getByLabel('Platform').inputValue(), 'process');

  // By keyboard: from the list's scroll container, Tab reaches the row's link, Enter opens the instance in the page.
  await page.locator('.fleet-body').focus();
  await page.keyboard.press('Tab');
  t.is(await page.evaluate('document.activeElement.textContent'), 'f-stop');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/ui\/instances\/f-stop$/);
  t.deepEqual(pageProblems(page), []);
});

function generatedView(index: number): InstanceView {
  const name = `inst-${String(index).padStart(5, '0')}`;
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, index)).toISOString();
  return sampleView(name, at, {
    platformType: index % 3 === 0 ? 'docker' : 'process',
    runtime: { workloadId: String(10_000 + index), port: 20_000 + (index % 1000), url: 'http://127.0.0.1:1', startedAt: at, generation: 1 },
    workerId: 'worker-1',
  });
}

test.serial('10,000 instances: a windowed list, a burst of 2,000 changes applied, filtering by name', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const page = await newPage(t);
  // What is tested here is the page's rendering, not the server: creating 10,000 real instances is too slow
  // for CI, so the list and the event stream are answered by the test (playwright's page.route).
  const views = Array.from({ length: 10_000 }, (_, index) => generatedView(index));
  let listServedAt = 0;
  let listServed: () => void = () => undefined;
  const listDone = new Promise<void>((resolve) => {
    listServed = resolve;
  });
  await page.route(
    (address) => address.pathname === '/api/server/instances',
    async (route: Route) => {
      await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(views) });
      listServedAt = Date.now();
      listServed();
    },
  );
  // The burst: every fifth instance stops (2,000 changes, ids increasing), sent once the page has its list,
  // so the changes arrive live and must be applied in batches. The first stream only opens (and asks for a quick retry).
  const burst = Array.from({ length: 2_000 }, (_, index) => {
    const name = `inst-${String(index * 5).padStart(5, '0')}`;
    const data = {
      sequence: index + 1,
      instanceId: name,
      at: new Date().toISOString(),
      from: 'Running',
      to: 'Stopped',
      cause: 'STOPPED',
      desiredState: 'Stopped',
      observedState: 'Stopped',
      generation: 1,
      observedGeneration: 1,
    };
    return `id: ${index + 1}\nevent: status-changed\ndata: ${JSON.stringify(data)}\n\n`;
  }).join('');
  let streams = 0;
  await page.route(
    (address) => address.pathname === '/api/events',
    async (route: Route) => {
      streams += 1;
      const headers = { 'cache-control': 'no-cache' };
      if (streams === 1) return route.fulfill({ status: 200, contentType: 'text/event-stream', headers, body: 'retry: 100\n\n: open\n\n' });
      await listDone;
      await new Promise((resolve) => setTimeout(resolve, 300));
      return route.fulfill({ status: 200, contentType: 'text/event-stream', headers, body: `retry: 600000\n\n${burst}` });
    },
  );

  // The page's long tasks (main thread busy > 50 ms), to log how long it ever froze; a string, as the test has no DOM types.
  await page.addInitScript({
    content:
      'window.longTasks = []; new PerformanceObserver((list) => { for (const entry of list.getEntries()) window.longTasks.push(Math.round(entry.duration)); }).observe({ type: "longtask", buffered: true });',
  });
  await page.goto(`${url}/ui`);
  await row(page, 'inst-00001').waitFor({ timeout: 10_000 });
  t.log(`first render of 10,000 instances: ${Date.now() - listServedAt} ms after the routed list was handed over (transfer and parse of ~5 MB included)`);
  t.is(await page.locator('.fleet-table').getAttribute('aria-rowcount'), '10001', '10,000 rows plus the header row');
  const rendered = await page.locator('.fleet-body [role="row"]').count();
  t.true(rendered > 10 && rendered < 100, `${rendered} row elements in the DOM`);
  t.is(await page.locator('[data-count="total"]').textContent(), '10000');

  // The burst lands: 2,000 of them Stopped.
  const burstStarted = Date.now();
  await page.locator('[data-count-status="Stopped"] .fleet-count', { hasText: /^2000$/ }).waitFor({ timeout: 10_000 });
  t.log(`burst of 2,000 changes applied within ${Date.now() - burstStarted} ms of waiting`);
  t.is(await count(page, 'Running'), '8000');
  t.is(await row(page, 'inst-00005').getAttribute('data-status'), 'Stopped');
  t.is(await row(page, 'inst-00006').getAttribute('data-status'), 'Running');

  // Scrolling to the end shows the last instance, still with a handful of rows.
  await page.locator('.fleet-body').evaluate((body) => {
    body.scrollTop = body.scrollHeight;
  });
  await row(page, 'inst-09999').waitFor({ timeout: 2_000 });
  t.is(await row(page, 'inst-09999').getAttribute('aria-rowindex'), '10001');
  t.true((await page.locator('.fleet-body [role="row"]').count()) < 100);

  const filterStarted = Date.now();
  await page.getByLabel('Name').fill('inst-04242');
  await page.locator('[data-count="shown"]', { hasText: /^1$/ }).waitFor({ timeout: 5_000 });
  t.log(`name filter over 10,000: ${Date.now() - filterStarted} ms`);
  await row(page, 'inst-04242').waitFor({ timeout: 1_000 });
  t.is(await page.locator('.fleet-body [role="row"]').count(), 1);
  t.is(await page.locator('.fleet-table').getAttribute('aria-rowcount'), '2');
  const longTasks = (await page.evaluate('window.longTasks')) as number[];
  t.log(`main-thread tasks over 50 ms: ${longTasks.length} (longest ${Math.max(0, ...longTasks)} ms; includes parsing the 10,000-instance answer)`);
  t.deepEqual(pageProblems(page), []);
});

test.serial('screenshot of the fleet for the docs (docs/images/console-fleet.png)', async (t) => {
  const { draas } = await embedded(t, { restartPolicy: { initialBackoffMs: 600_000, maxBackoffMs: 600_000 } });
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  for (const name of ['analytics', 'billing-events', 'fraud-detector', 'inventory-sync', 'orders', 'sensor-gateway']) {
    await call('POST', '/api/server/instances', { name, configuration });
  }
  for (const name of ['analytics', 'billing-events', 'fraud-detector', 'orders', 'sensor-gateway']) await call('POST', '/api/server/instances/' + name + '/start');
  await call('POST', '/api/server/instances/billing-events/stop');
  // A changed configuration kept for the next restart (update strategy manual): generation 2, the workload still runs 1 (the row marks it behind).
  t.is((await call('PATCH', '/api/configuration/instances/orders?updateStrategy=manual', [{ op: 'replace', path: '/sources/0/id', value: 'sensors-v2' }])).status, 200);
  // A crash: the double killed, the restart far off, so it stays Failed.
  const fraud = await call('GET', '/api/server/instances/fraud-detector');
  process.kill(Number(fraud.body.runtime!.workloadId), 'SIGKILL');
  const page = await newPage(t, { width: 1280, height: 720 });
  await openFleet(page, `${url}/ui`);
  await row(page, 'fraud-detector', 'Failed').waitFor({ timeout: 5_000 });
  await row(page, 'inventory-sync', 'Pending').waitFor({ timeout: 2_000 });
  await row(page, 'billing-events', 'Stopped').waitFor({ timeout: 2_000 });
  t.is(await row(page, 'orders').locator('[role="cell"]').nth(4).textContent(), '1 / 2 (behind)');
  t.is(await row(page, 'analytics').locator('[role="cell"]').nth(4).textContent(), '1 / 1');
  await mkdir(new URL('../../docs/images/', import.meta.url), { recursive: true });
  const path = new URL('../../docs/images/console-fleet.png', import.meta.url).pathname;
  await page.screenshot({ path });
  t.log(`saved ${path}`);
  t.deepEqual(pageProblems(page), []);
});
