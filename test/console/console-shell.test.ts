/**
 * The console's shell: served by the API's own Koa app (also when mounted
 * under a prefix), assets a fixed list with a strict CSP, and the page
 * connected to the event stream in a real browser.
 */
import Koa from 'koa';
import type { Context, Next } from 'koa';
import { embedded } from '../helpers/embedded.js';
import { closeBrowser, newPage, pageProblems, testWithBrowser } from '../helpers/browser.js';
import { serveHttp } from '../../src/http/serve.js';
import { rawRequest } from '../helpers/raw-http.js';

const { test } = testWithBrowser('console › shell');
test.after.always(closeBrowser);

test('GET /ui and deep links answer the page with a strict CSP; assets are a fixed list; anything else is a problem', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  for (const path of ['/ui', '/ui/', '/ui/instances/analytics']) {
    const response = await fetch(url + path);
    t.is(response.status, 200, path);
    t.regex(response.headers.get('content-type') ?? '', /^text\/html/, path);
    t.regex(response.headers.get('content-security-policy') ?? '', /script-src 'self'/, path);
    t.is(response.headers.get('x-content-type-options'), 'nosniff');
    t.regex(await response.text(), /<base href="\/ui\/">/, path);
  }
  const script = await fetch(`${url}/ui/assets/main.js`);
  t.is(script.status, 200);
  t.regex(script.headers.get('content-type') ?? '', /^text\/javascript/);
  await script.arrayBuffer();
  for (const path of ['/ui/assets/nothing.js', '/ui/assets/..%2Fconsole.ts', '/ui/assets/index.html']) {
    const missing = await fetch(url + path);
    t.is(missing.status, 404, path);
    t.regex(missing.headers.get('content-type') ?? '', /problem\+json/, path);
  }
  const root = await fetch(`${url}/`, { redirect: 'manual' });
  t.is(root.status, 302);
  t.is(root.headers.get('location'), '/ui');
  await root.arrayBuffer();
  const post = await fetch(`${url}/ui`, { method: 'POST' });
  t.true(post.status === 404 || post.status === 405, `POST /ui: ${post.status}`);
  await post.arrayBuffer();
  const foreign = await rawRequest(url, { method: 'GET', path: '/ui', headers: { host: 'evil.example' } });
  t.is(foreign.status, 421, 'the Host check guards the console too');
});

test('mounted under a prefix, the page points its base, assets and API calls there', async (t) => {
  const { draas } = await embedded(t);
  // What koa-mount does: the inner app sees the path without the prefix, originalUrl keeps it.
  const outer = new Koa();
  // A page that goes away closes its event stream early; the inner app's own error listener is not consulted here.
  outer.silent = true;
  outer.use(async (ctx: Context, next: Next) => {
    if (!ctx.path.startsWith('/ops/')) return next();
    ctx.path = ctx.path.slice('/ops'.length);
    const handle = draas.app.middleware.reduceRight<() => Promise<void>>(
      (downstream, middleware) => () => Promise.resolve(middleware(ctx, downstream)),
      () => Promise.resolve(),
    );
    await handle();
  });
  const listener = await serveHttp(outer, { port: 0 });
  t.teardown(() => listener.close());
  const html = await (await fetch(`${listener.url}/ops/ui/instances/x`)).text();
  t.regex(html, /<base href="\/ops\/ui\/">/);
  const root = await fetch(`${listener.url}/ops/`, { redirect: 'manual' });
  t.is(root.headers.get('location'), '/ops/ui');
  await root.arrayBuffer();
  const page = await newPage(t);
  await page.goto(`${listener.url}/ops/ui`);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 5_000 });
  t.deepEqual(pageProblems(page), []);
});

test('the page loads in a real browser without errors and shows it is live', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const page = await newPage(t);
  await page.goto(`${url}/ui`);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 5_000 });
  t.is(await page.locator('#connection').textContent(), 'Live');
  t.deepEqual(pageProblems(page), []);
});
