/**
 * Idempotency-Key on POST: a retry gets the first answer; racing retries all
 * get the one answer of one execution; the same key with another request is
 * 422; answers that say "try again" are not kept.
 */
import test from 'ava';
import Koa from 'koa';
import type { AddressInfo } from 'node:net';
import { createRoutes } from '../../src/http/routes.js';
import { jsonBody } from '../../src/http/json-body.js';
import { problemMiddleware } from '../../src/http/problem.js';
import { canonicalJson, parseIdempotencyKey } from '../../src/http/idempotency.js';
import { MemoryIdempotencyStore } from '../../src/store/idempotency-store.js';
import { memoryControlPlane, serve } from '../helpers/memory-api.js';

const key = (value: string) => ({ 'idempotency-key': value });

test('N racing creates with one key make one instance, and every answer is the first one', async (t) => {
  const { call, controlPlane } = await serve(t);
  const body = { name: 'once', description: 'made once' };
  const answers = await Promise.all(Array.from({ length: 10 }, () => call('POST', '/api/server/instances', body, key('k-1'))));
  for (const answer of answers) {
    t.is(answer.status, 201);
    t.deepEqual(answer.body, answers[0]!.body);
    t.is(answer.headers.get('location'), '/api/server/instances/once');
  }
  t.is(answers.filter((answer) => answer.headers.get('idempotent-replayed') === 'true').length, 9, 'all but the first are replays');
  t.deepEqual((await controlPlane.list()).map((view) => view.id), ['once']);
  // A later retry, body keys in another order: the same request, the same answer.
  const later = await call('POST', '/api/server/instances', { description: 'made once', name: 'once' }, key('k-1'));
  t.is(later.status, 201);
  t.deepEqual(later.body, answers[0]!.body);
  // Without a key the same body is a second create: 409.
  t.is((await call('POST', '/api/server/instances', body)).status, 409);
});

test('the same key with another body is 422 and the first answer stays', async (t) => {
  const { call, controlPlane } = await serve(t);
  t.is((await call('POST', '/api/server/instances', { name: 'a' }, key('k'))).status, 201);
  const other = await call('POST', '/api/server/instances', { name: 'b' }, key('k'));
  t.is(other.status, 422);
  t.regex(other.type, /^application\/problem\+json/);
  t.is(other.body?.type, 'urn:draas:problem:idempotency-key-reused');
  t.deepEqual((await controlPlane.list()).map((view) => view.id), ['a']);
  t.is((await call('POST', '/api/server/instances', { name: 'a' }, key('k'))).headers.get('idempotent-replayed'), 'true');
});

test('a key is scoped to its path: the same key starts two instances', async (t) => {
  const { call, controlPlane } = await serve(t);
  await controlPlane.create({ name: 'a' });
  await controlPlane.create({ name: 'b' });
  t.is((await call('POST', '/api/server/instances/a/start', undefined, key('start-1'))).status, 200);
  const b = await call('POST', '/api/server/instances/b/start', undefined, key('start-1'));
  t.is(b.status, 200);
  t.is(b.headers.get('idempotent-replayed'), null);
  t.is((await controlPlane.get('b')).status, 'Running');
  // A replayed start answers what the first start answered, even after the instance stopped.
  await controlPlane.stop('a');
  const replay = await call('POST', '/api/server/instances/a/start', undefined, key('start-1'));
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  t.is(replay.body?.status, 'Running');
  t.is((await controlPlane.get('a')).status, 'Stopped');
});

test('a lasting refusal (409) is replayed; a try-again answer (503) is not kept and the retry runs', async (t) => {
  const { call, controlPlane } = await serve(t, { worker: false });
  await controlPlane.create({ name: 'a' });
  const unavailable = await call('POST', '/api/server/instances/a/start', undefined, key('s'));
  t.is(unavailable.status, 503);
  const stillUnavailable = await call('POST', '/api/server/instances/a/start', undefined, key('s'));
  t.is(stillUnavailable.status, 503);
  t.is(stillUnavailable.headers.get('idempotent-replayed'), null, 'ran again, not replayed');
  const conflict = await call('POST', '/api/server/instances', { name: 'a' }, key('c'));
  t.is(conflict.status, 409);
  const replayed = await call('POST', '/api/server/instances', { name: 'a' }, key('c'));
  t.is(replayed.status, 409);
  t.is(replayed.headers.get('idempotent-replayed'), 'true');
  t.regex(replayed.type, /^application\/problem\+json/);
  t.deepEqual(replayed.body, conflict.body);
});

test('a malformed key is 400 before anything runs', async (t) => {
  const { call, controlPlane } = await serve(t);
  for (const bad of ['"', '""', 'has space', 'a\\b', 'x'.repeat(256), 'é']) {
    const answer = await call('POST', '/api/server/instances', { name: 'never' }, key(bad)).catch(() => undefined);
    if (answer === undefined) continue; // fetch itself refuses some header values (non-ASCII)
    t.is(answer.status, 400, bad);
    t.like(answer.body, { type: 'urn:draas:problem:bad-request', reason: 'bad-idempotency-key' }, bad);
  }
  t.deepEqual(await controlPlane.list(), []);
  t.is(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"'), '8e03978e-40d5-43e8-bc93-6894a57f9324');
  t.is(parseIdempotencyKey('abc'), 'abc');
  t.throws(() => parseIdempotencyKey(''));
});

test('canonical JSON ignores key order, not values', (t) => {
  t.is(canonicalJson({ b: 1, a: [{ d: 2, c: null }] }), canonicalJson({ a: [{ c: null, d: 2 }], b: 1 }));
  t.not(canonicalJson({ a: 1 }), canonicalJson({ a: '1' }));
  t.is(canonicalJson(undefined), 'null');
});

test('keys are scoped to the caller an authentication middleware names on ctx.state.principal', async (t) => {
  const { controlPlane } = await memoryControlPlane(t);
  const app = new Koa();
  app.use(problemMiddleware(() => undefined));
  app.use(async (ctx, next) => {
    ctx.state['principal'] = { id: ctx.get('x-test-user') };
    await next();
  });
  app.use(jsonBody(1_000_000));
  app.use(createRoutes(controlPlane).routes());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const create = (user: string, name: string) =>
    fetch(`${base}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'same', 'x-test-user': user }, body: JSON.stringify({ name }) });
  t.is((await create('alice', 'a')).status, 201);
  t.is((await create('bob', 'b')).status, 201, "bob's key is his own: no 422");
  t.is((await create('alice', 'b')).status, 422);
  t.deepEqual((await controlPlane.list()).map((view) => view.id), ['a', 'b']);
});

test('the memory store forgets answers after their TTL and keeps at most its bound', async (t) => {
  let now = 0;
  const store = new MemoryIdempotencyStore(2, () => now);
  const response = { status: 201, headers: {}, body: { ok: true } };
  const first = await store.claim('k1', 'f', 1_000);
  t.is(first.state, 'claimed');
  t.is((await store.claim('k1', 'f', 1_000)).state, 'in-flight');
  await store.complete('k1', first.state === 'claimed' ? first.token : '', 'f', response, 5_000);
  t.like(await store.claim('k1', 'f', 1_000), { state: 'done', response });
  now = 5_001;
  t.is((await store.claim('k1', 'f', 1_000)).state, 'claimed', 'expired');
  // A lapsed claim cannot complete over the one that took the key.
  now = 7_000;
  const second = await store.claim('k1', 'f', 1_000);
  await store.complete('k1', 'stale-token', 'f', response, 5_000);
  t.is((await store.claim('k1', 'f', 1_000)).state, 'in-flight');
  await store.release('k1', second.state === 'claimed' ? second.token : '');
  t.is((await store.claim('k1', 'f', 1_000)).state, 'claimed', 'released');
  await store.claim('k2', 'f', 1_000);
  await store.claim('k3', 'f', 1_000);
  t.is((await store.claim('k1', 'f', 1_000)).state, 'claimed', 'the oldest entry was dropped for the bound');
});
