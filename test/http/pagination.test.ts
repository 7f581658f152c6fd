/**
 * Paged lists: `GET /api/server/instances?limit=&cursor=` (the body stays the
 * original API's array; where the next page starts travels in `Next-Cursor`
 * and `Link: rel="next"`), and `GET /api/status/recent-changes` with the same
 * opaque cursor next to its older `after`.
 */
import test from 'ava';
import { serve } from '../helpers/memory-api.js';

const ids = (body: unknown) => (body as { id: string }[]).map((view) => view.id);

test('without limit or cursor the list is every instance, as before, with no next page', async (t) => {
  const { call, controlPlane } = await serve(t);
  for (const name of ['c', 'a', 'b']) await controlPlane.create({ name });
  const all = await call('GET', '/api/server/instances');
  t.deepEqual(ids(all.body), ['a', 'b', 'c']);
  t.is(all.headers.get('next-cursor'), null);
  t.is(all.headers.get('link'), null);
});

test('following Next-Cursor (or Link rel=next) walks every instance once, in id order', async (t) => {
  const { call, base, controlPlane } = await serve(t);
  const names = Array.from({ length: 7 }, (_, index) => `i-${index}`).concat(['i0', 'i-10']);
  for (const name of names) await controlPlane.create({ name });
  const seen: string[] = [];
  let path: string | undefined = '/api/server/instances?limit=3';
  let pages = 0;
  while (path !== undefined) {
    const page = await call('GET', path);
    t.is(page.status, 200);
    t.true(Array.isArray(page.body));
    t.true(ids(page.body).length <= 3);
    seen.push(...ids(page.body));
    const link = page.headers.get('link');
    const cursor = page.headers.get('next-cursor');
    if (cursor === null) {
      t.is(link, null);
      path = undefined;
    } else {
      const target = /^<([^>]+)>; rel="next"$/.exec(link ?? '')?.[1];
      t.truthy(target, String(link));
      t.is(new URL(target!, base).searchParams.get('cursor'), cursor);
      path = target;
    }
    pages += 1;
  }
  t.is(pages, 3);
  t.deepEqual(seen, [...names].sort((a, b) => (a < b ? -1 : 1)));
  // The unpaged list is in the same order as the pages.
  t.deepEqual(ids((await call('GET', '/api/server/instances')).body), seen);
});

test('a page after a deleted instance continues after its place; a cursor alone pages by 100', async (t) => {
  const { call, controlPlane } = await serve(t);
  for (const name of ['a', 'b', 'c', 'd']) await controlPlane.create({ name });
  const first = await call('GET', '/api/server/instances?limit=2');
  t.deepEqual(ids(first.body), ['a', 'b']);
  await controlPlane.delete('b');
  const rest = await call('GET', `/api/server/instances?cursor=${first.headers.get('next-cursor')}`);
  t.deepEqual(ids(rest.body), ['c', 'd']);
  t.is(rest.headers.get('next-cursor'), null);
});

test('a bad limit or a cursor we did not make is 400', async (t) => {
  const { call } = await serve(t);
  for (const query of ['limit=0', 'limit=1001', 'limit=x', 'cursor=', 'cursor=not*base64', `cursor=${Buffer.from('v1:NOT AN ID').toString('base64url')}`, `cursor=${Buffer.from('s1:5').toString('base64url')}`, 'other=1']) {
    const answer = await call('GET', `/api/server/instances?${query}`);
    t.is(answer.status, 400, query);
    t.is(answer.body?.type, 'urn:draas:problem:bad-request', query);
  }
});

test('recent-changes: cursor continues after the newest change seen, like after; both at once is 400', async (t) => {
  const { call, controlPlane } = await serve(t);
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  const first = await call('GET', '/api/status/recent-changes');
  const changes = first.body as unknown as { sequence: number }[];
  t.true(changes.length >= 2);
  const cursor = first.headers.get('next-cursor');
  t.truthy(cursor);
  t.regex(first.headers.get('link') ?? '', /^<\/api\/status\/recent-changes\?cursor=[^>]+>; rel="next"$/);
  const none = await call('GET', `/api/status/recent-changes?cursor=${cursor}`);
  t.deepEqual(none.body, []);
  t.is(none.headers.get('next-cursor'), cursor, 'nothing new: the same position');
  await controlPlane.stop('a');
  const after = await call('GET', `/api/status/recent-changes?after=${changes.at(-1)!.sequence}`);
  const next = await call('GET', `/api/status/recent-changes?cursor=${cursor}`);
  t.true((after.body as unknown as unknown[]).length > 0);
  t.deepEqual(next.body, after.body);
  t.is((await call('GET', `/api/status/recent-changes?cursor=${cursor}&after=1`)).status, 400);
  t.is((await call('GET', `/api/status/recent-changes?cursor=${Buffer.from('v1:a').toString('base64url')}`)).status, 400);
});
