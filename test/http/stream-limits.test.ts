/**
 * Long-lived responses hold a socket (an open file) each for as long as the
 * client likes: open SSE streams (`GET /api/events`) and followed logs
 * (`GET …/logs?follow=true`) each have a ceiling per HTTP app. Past it a
 * client gets 503 with Retry-After; a client that goes away frees its slot.
 */
import test from 'ava';
import { serve } from '../helpers/memory-api.js';
import { followLog } from '../helpers/follow-stream.js';
import { waitFor } from '../helpers/processes.js';
import { listenSse } from '../helpers/sse-client.js';

test('SSE clients past the limit get 503 with Retry-After; a client that disconnects frees its slot', async (t) => {
  const { base, call } = await serve(t, { http: { maxEventClients: 2 } });
  const first = await listenSse(`${base}/api/events`);
  const second = await listenSse(`${base}/api/events?instanceId=a`);
  t.teardown(() => {
    first.close();
    second.close();
  });
  t.is(first.response.status, 200);
  t.is(second.response.status, 200);

  const refused = await call('GET', '/api/events');
  t.is(refused.status, 503);
  t.regex(refused.type, /^application\/problem\+json/);
  t.like(refused.body, { type: 'urn:draas:problem:too-many-streams', limit: 2 });
  t.regex(String(refused.body?.detail), /--max-event-clients/);
  t.true(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After in seconds');

  second.close();
  await second.done;
  let third: Awaited<ReturnType<typeof listenSse>> | undefined;
  await waitFor(
    async () => {
      third?.close();
      third = await listenSse(`${base}/api/events`);
      return third.response.status === 200;
    },
    5_000,
    'a slot freed by the disconnected client',
  );
  t.teardown(() => third?.close());
  t.is((await call('GET', '/api/events')).status, 503, 'still two at most');
  // Other requests are not limited.
  t.is((await call('GET', '/api/server/instances')).status, 200);
});

test('followed logs past their own limit get 503; plain log reads and SSE clients are not counted', async (t) => {
  const { base, call, controlPlane } = await serve(t, { http: { maxLogFollows: 1, maxEventClients: 1 } });
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  const follow = await followLog(`${base}/api/server/instances/a/logs?follow=true`);
  t.teardown(() => follow.disconnect());
  t.is(follow.status, 200);
  const events = await listenSse(`${base}/api/events`);
  t.teardown(events.close);
  t.is(events.response.status, 200, 'a separate ceiling');

  const refused = await call('GET', '/api/server/instances/a/logs?follow=true');
  t.is(refused.status, 503);
  t.like(refused.body, { type: 'urn:draas:problem:too-many-streams', limit: 1 });
  t.regex(String(refused.body?.detail), /--max-log-follows/);
  t.truthy(refused.headers.get('retry-after'));
  t.is((await call('GET', '/api/server/instances/a/logs?tail=5')).status, 200, 'a plain read is not a follow');

  follow.disconnect();
  await follow.ended();
  await waitFor(async () => (await fetch(`${base}/api/server/instances/a/logs?follow=true`, { signal: AbortSignal.timeout(2_000) }).then(async (r) => { void r.body?.cancel(); return r.status; })) === 200, 5_000, 'the follow slot freed');
});

test('a follow refused for another reason (unknown instance) gives its slot back', async (t) => {
  const { call } = await serve(t, { http: { maxLogFollows: 1 } });
  for (let i = 0; i < 3; i++) t.is((await call('GET', '/api/server/instances/ghost/logs?follow=true')).status, 404);
});
