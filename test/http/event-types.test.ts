/**
 * GET /api/events?type=…: the client picks the event types it gets. With
 * `heartbeat`, an event replaces the keep-alive comment (a browser's
 * EventSource cannot see comments), carries the newest sequence the server
 * knows and no id; without it, nothing changes. Bad types are 400 problems.
 */
import test from 'ava';
import { waitFor } from '../helpers/processes.js';
import { serve } from '../helpers/memory-api.js';
import { listenSse, statusChanges, type SseFrame } from '../helpers/sse-client.js';

const heartbeats = (frames: SseFrame[]) => frames.filter((frame) => frame.event === 'heartbeat');
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('type=status-changed,heartbeat: heartbeat events every keep-alive interval instead of comments, with no id; changes as before', async (t) => {
  const { base, controlPlane } = await serve(t, { http: { eventKeepAliveMs: 100 } });
  await controlPlane.create({ name: 'a' });
  const before = (await controlPlane.recentChanges()).at(-1)!.sequence;
  const client = await listenSse(`${base}/api/events?type=status-changed,heartbeat`);
  t.teardown(client.close);
  t.is(client.response.status, 200);
  await waitFor(() => heartbeats(client.frames).length >= 2, 5_000, 'two heartbeats');
  const first = heartbeats(client.frames)[0]!;
  t.is(first.id, undefined, 'no id: Last-Event-ID stays on the last change');
  t.false(Number.isNaN(Date.parse(String(first.data?.at))), 'at is a time');
  t.is(first.data?.newest, before, 'the newest sequence the server knows, though this client was sent none');
  t.false(client.raw.includes(': keep-alive'), 'no comment lines');

  await controlPlane.start('a');
  await waitFor(() => statusChanges(client.frames).length === 2, 5_000, 'the changes of the start');
  const last = Number(statusChanges(client.frames).at(-1)!.id);
  await waitFor(() => heartbeats(client.frames).at(-1)?.data?.newest === last, 5_000, 'a heartbeat naming the newest change');
});

test('type=heartbeat alone: heartbeats, no status changes; newest still moves', async (t) => {
  const { base, controlPlane } = await serve(t, { http: { eventKeepAliveMs: 100 } });
  const client = await listenSse(`${base}/api/events?type=heartbeat`);
  t.teardown(client.close);
  await waitFor(() => heartbeats(client.frames).length >= 1, 5_000, 'a heartbeat');
  t.is(heartbeats(client.frames)[0]!.data?.newest, null, 'null: no change recorded yet');
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  const newest = (await controlPlane.recentChanges()).at(-1)!.sequence;
  await waitFor(() => heartbeats(client.frames).at(-1)?.data?.newest === newest, 5_000, 'a heartbeat naming the newest change');
  t.is(statusChanges(client.frames).length, 0);
});

test('without type (or type=status-changed): comments, no heartbeat events — as before', async (t) => {
  const { base, controlPlane } = await serve(t, { http: { eventKeepAliveMs: 100 } });
  for (const query of ['', '?type=status-changed']) {
    const client = await listenSse(`${base}/api/events${query}`);
    t.teardown(client.close);
    await controlPlane.create({ name: `a${query.length}` });
    await waitFor(() => client.raw.split(': keep-alive').length > 3 && statusChanges(client.frames).length === 1, 5_000, 'comments and a change');
    await pause(150);
    t.is(heartbeats(client.frames).length, 0, query || '(no type)');
    client.close();
  }
});

test('a heartbeat is sent together with instanceId, and reset is sent even to type=heartbeat', async (t) => {
  const { base, controlPlane } = await serve(t, { http: { eventKeepAliveMs: 100 } });
  await controlPlane.create({ name: 'a' });
  const client = await listenSse(`${base}/api/events?type=heartbeat&instanceId=b`, { 'Last-Event-ID': '999999' });
  t.teardown(client.close);
  await waitFor(() => client.frames.some((frame) => frame.event === 'reset'), 5_000, 'a reset');
  await waitFor(() => heartbeats(client.frames).length >= 1, 5_000, 'a heartbeat');
  const newest = (await controlPlane.recentChanges()).at(-1)!.sequence;
  t.is(heartbeats(client.frames).at(-1)!.data?.newest, newest, 'the log’s newest, not the id the client came with');
  t.is(statusChanges(client.frames).length, 0);
});

test('bad types are 400 problems naming the types there are', async (t) => {
  const { call } = await serve(t);
  for (const query of ['?type=', '?type=heartbeat,', '?type=reset', '?type=status-changed,bogus', '?type=heartbeat&type=status-changed']) {
    const response = await call('GET', `/api/events${query}`);
    t.is(response.status, 400, query);
    t.regex(response.type, /application\/problem\+json/);
    t.like(response.body, { type: 'urn:draas:problem:bad-request' });
    if (!query.includes('&')) t.regex(String(response.body?.detail), /status-changed, heartbeat/, query);
  }
  const unknown = await call('GET', '/api/events?type=bogus');
  t.regex(String(unknown.body?.detail), /unknown type "bogus"/);
});
