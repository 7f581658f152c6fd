/**
 * ETag / If-Match on an instance's configuration: a change names the
 * generation it was made for, and is refused (412) when another change came
 * first — checked in the instance's serialized step, so two racing changes
 * made for the same generation cannot both land.
 */
import test from 'ava';
import { serve } from '../helpers/memory-api.js';

const patchType = { 'content-type': 'application/json-patch+json' };
const rename = (id: string) => [{ op: 'replace', path: '/sources/0/id', value: id }];

async function withConfig(t: Parameters<typeof serve>[0]) {
  const api = await serve(t);
  t.is((await api.call('POST', '/api/server/instances', { name: 'cfg', configuration: { sources: [{ kind: 'mock', id: 's' }] } })).status, 201);
  return api;
}

test('GET configuration answers an ETag of its generation, and 304 to If-None-Match with it', async (t) => {
  const { call } = await withConfig(t);
  const read = await call('GET', '/api/configuration/instances/cfg');
  t.is(read.status, 200);
  t.is(read.headers.get('etag'), '"g1"');
  // fetch adds Cache-Control: no-cache to a conditional request unless it has one (and no-cache asks for a full answer).
  const again = await call('GET', '/api/configuration/instances/cfg', undefined, { 'if-none-match': '"g1"', 'cache-control': 'max-age=0' });
  t.is(again.status, 304);
  t.is(again.body, undefined);
  t.is((await call('GET', '/api/configuration/instances/cfg', undefined, { 'if-none-match': '"g7"', 'cache-control': 'max-age=0' })).status, 200);
});

test('a PATCH with a matching If-Match applies and answers the new ETag; a stale one is 412 naming the current ETag', async (t) => {
  const { call } = await withConfig(t);
  const first = await call('PATCH', '/api/configuration/instances/cfg', rename('a'), { ...patchType, 'if-match': '"g1"' });
  t.is(first.status, 200);
  t.is(first.headers.get('etag'), '"g2"');
  t.like(first.body, { generation: 2 });
  const stale = await call('PATCH', '/api/configuration/instances/cfg', rename('b'), { ...patchType, 'if-match': '"g1"' });
  t.is(stale.status, 412);
  t.regex(stale.type, /^application\/problem\+json/);
  t.like(stale.body, { type: 'urn:draas:problem:precondition-failed', generation: 2, etag: '"g2"' });
  const config = await call('GET', '/api/configuration/instances/cfg');
  t.like(config.body, { generation: 2, configuration: { sources: [{ id: 'a' }] } });
});

test('If-Match: * and a list that names the current tag apply; weak or foreign tags never match', async (t) => {
  const { call } = await withConfig(t);
  t.is((await call('PATCH', '/api/configuration/instances/cfg', rename('a'), { ...patchType, 'if-match': '*' })).status, 200);
  t.is((await call('PATCH', '/api/configuration/instances/cfg', rename('b'), { ...patchType, 'if-match': '"g9", "g2"' })).status, 200);
  t.is((await call('PATCH', '/api/configuration/instances/cfg', rename('c'), { ...patchType, 'if-match': 'W/"g3"' })).status, 412);
  t.is((await call('PATCH', '/api/configuration/instances/cfg', rename('c'), { ...patchType, 'if-match': '"abc"' })).status, 412);
  t.like((await call('GET', '/api/configuration/instances/cfg')).body, { generation: 3, configuration: { sources: [{ id: 'b' }] } });
  // If-Match on an instance that does not exist: 404, not 412.
  t.is((await call('PATCH', '/api/configuration/instances/nope', rename('c'), { ...patchType, 'if-match': '"g1"' })).status, 404);
});

test('concurrent PATCHes made for the same generation: exactly one applies, the others are 412, the generation moves by one', async (t) => {
  const { call } = await withConfig(t);
  const racers = 8;
  const answers = await Promise.all(
    Array.from({ length: racers }, (_, index) => call('PATCH', '/api/configuration/instances/cfg', rename(`r${index}`), { ...patchType, 'if-match': '"g1"' })),
  );
  const statuses = answers.map((answer) => answer.status).sort();
  t.deepEqual(statuses, [200, ...Array<number>(racers - 1).fill(412)]);
  const winner = answers.find((answer) => answer.status === 200)!;
  const config = await call('GET', '/api/configuration/instances/cfg');
  t.like(config.body, { generation: 2 });
  t.deepEqual(config.body?.configuration, winner.body?.configuration);
  for (const loser of answers.filter((answer) => answer.status === 412)) t.like(loser.body, { generation: 2, etag: '"g2"' });
});

test('the library takes the precondition as ifGeneration; a bad value is a 400', async (t) => {
  const { controlPlane } = await withConfig(t);
  await t.throwsAsync(controlPlane.patchConfig('cfg', rename('x'), { ifGeneration: [5] }), { message: /generation 1/ });
  t.like(await controlPlane.patchConfig('cfg', rename('x'), { ifGeneration: [1] }), { generation: 2 });
  await t.throwsAsync(controlPlane.patchConfig('cfg', rename('y'), { ifGeneration: 'g2' }), { message: /invalid configuration change options/ });
});
