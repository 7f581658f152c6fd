/**
 * GET /api/events: instance status changes as Server-Sent Events, over real
 * HTTP, for every instance or one. Each event is one change-log entry whose
 * `id:` is its sequence; a client resumes from `Last-Event-ID` (or
 * `?lastEventId=`) and gets what it missed, or a `reset` when the log no
 * longer keeps it; comment lines keep an idle stream alive; bad queries are
 * problems; a client that goes away or falls behind is let go.
 */
import test from 'ava';
import http from 'node:http';
import type { StatusChange } from '../../src/store/instance-store.js';
import { waitFor } from '../helpers/processes.js';
import { serve } from '../helpers/memory-api.js';
import { listenSse, parseSseFrame, statusChanges, type SseFrame } from '../helpers/sse-client.js';
import { makeChange } from '../store/fixtures.js';

const ids = (frames: SseFrame[]) => statusChanges(frames).map((frame) => Number(frame.id));
const transitions = (frames: SseFrame[]) => statusChanges(frames).map((frame) => `${String(frame.data?.instanceId)}:${String(frame.data?.from)}→${String(frame.data?.to)}`);

test('status changes arrive as they happen: Pending, Starting, Running, each with its change-log sequence as id', async (t) => {
  const { base, controlPlane } = await serve(t);
  const client = await listenSse(`${base}/api/events`);
  t.teardown(client.close);
  t.is(client.response.status, 200);
  t.regex(client.response.headers.get('content-type') ?? '', /^text\/event-stream/);
  t.is(client.response.headers.get('cache-control'), 'no-cache');
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  await waitFor(() => statusChanges(client.frames).length === 3, 5_000, 'three status changes');
  t.is(client.frames[0]?.retry, 2000);
  t.deepEqual(transitions(client.frames), ['a:null→Pending', 'a:Pending→Starting', 'a:Starting→Running']);
  const last = statusChanges(client.frames).at(-1)!;
  t.like(last.data, { instanceId: 'a', desiredState: 'Running', observedState: 'Running', generation: 1, observedGeneration: 1 });
  t.is(typeof last.data?.at, 'string');
  const recorded = await controlPlane.recentChanges();
  t.deepEqual(ids(client.frames), recorded.map((change) => change.sequence), 'the ids are the change log’s sequences');
  t.deepEqual(statusChanges(client.frames).map((frame) => frame.data?.sequence), recorded.map((change) => change.sequence));
});

test('?instanceId= streams one instance only', async (t) => {
  const { base, controlPlane } = await serve(t);
  const client = await listenSse(`${base}/api/events?instanceId=b`);
  t.teardown(client.close);
  await controlPlane.create({ name: 'a' });
  await controlPlane.create({ name: 'b' });
  await controlPlane.start('a');
  await controlPlane.start('b');
  await waitFor(() => statusChanges(client.frames).length === 3, 5_000, 'b’s three changes');
  t.true(statusChanges(client.frames).every((frame) => frame.data?.instanceId === 'b'));
});

test('a client that reconnects with Last-Event-ID gets exactly what it missed, in order, then new changes', async (t) => {
  const { base, controlPlane } = await serve(t);
  const first = await listenSse(`${base}/api/events`);
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  await waitFor(() => statusChanges(first.frames).length === 3, 5_000, 'the first client’s three changes');
  first.close();
  await first.done;
  const lastSeen = ids(first.frames).at(-1)!;

  // Missed while disconnected.
  await controlPlane.stop('a');
  await controlPlane.create({ name: 'b' });

  const second = await listenSse(`${base}/api/events`, { 'Last-Event-ID': String(lastSeen) });
  t.teardown(second.close);
  await waitFor(() => statusChanges(second.frames).length === 3, 5_000, 'the missed changes');
  t.deepEqual(transitions(second.frames), ['a:Running→Stopping', 'a:Stopping→Stopped', 'b:null→Pending']);
  await controlPlane.start('b');
  await waitFor(() => statusChanges(second.frames).length === 5, 5_000, 'then new ones');

  const all = [...ids(first.frames), ...ids(second.frames)];
  t.deepEqual(all, (await controlPlane.recentChanges()).map((change) => change.sequence), 'together: every recorded change once, in order');
  t.true(all.every((id, n) => n === 0 || id > all[n - 1]!), `ids strictly increase: ${all.join(', ')}`);
  t.false(second.frames.some((frame) => frame.event === 'reset'));
});

test('?lastEventId= resumes like the header; the header wins when both are given', async (t) => {
  const { base, controlPlane } = await serve(t);
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  const [pending, starting] = await controlPlane.recentChanges();
  const byQuery = await listenSse(`${base}/api/events?lastEventId=${pending!.sequence}`);
  t.teardown(byQuery.close);
  await waitFor(() => statusChanges(byQuery.frames).length === 2, 5_000, 'the two changes after Pending');
  t.deepEqual(transitions(byQuery.frames), ['a:Pending→Starting', 'a:Starting→Running']);

  const both = await listenSse(`${base}/api/events?lastEventId=${pending!.sequence}`, { 'Last-Event-ID': String(starting!.sequence) });
  t.teardown(both.close);
  await waitFor(() => statusChanges(both.frames).length === 1, 5_000, 'the change after Starting');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(transitions(both.frames), ['a:Starting→Running']);
});

test('a client further behind than the log keeps gets a reset event, then follows on from the newest change', async (t) => {
  const { base, controlPlane } = await serve(t);
  const first = await controlPlane.store.appendChange(makeChange('old', 0));
  // The memory store keeps the newest 1,000 entries: push the first one out.
  let newest: StatusChange = first;
  for (let n = 1; n <= 1_100; n++) newest = await controlPlane.store.appendChange(makeChange('old', n));
  const client = await listenSse(`${base}/api/events`, { 'Last-Event-ID': String(first.sequence) });
  t.teardown(client.close);
  await waitFor(() => client.frames.some((frame) => frame.event === 'reset'), 5_000, 'a reset');
  const reset = client.frames.find((frame) => frame.event === 'reset')!;
  t.is(reset.id, String(newest.sequence), 'the reset’s id is where the client follows on from');
  t.like(reset.data, { lastEventId: first.sequence, newest: newest.sequence });
  t.true(Number(reset.data?.oldestKept) > first.sequence + 1);
  t.regex(String(reset.data?.reason), /reload/);
  await controlPlane.create({ name: 'after' });
  await waitFor(() => statusChanges(client.frames).length === 1, 5_000, 'the next change');
  t.deepEqual(transitions(client.frames), ['after:null→Pending'], 'nothing of the trimmed or kept backlog, only what follows');
  t.true(Number(statusChanges(client.frames)[0]!.id) > newest.sequence);
});

test('a Last-Event-ID this log never had (another format, or ahead of its newest) gets a reset, not a 400 or silence', async (t) => {
  const { base, controlPlane } = await serve(t);
  await controlPlane.create({ name: 'a' });
  for (const lastEventId of ['0b6f9c1e-3d52-4a8e-9a51-0c3c5b7e8f21', '999999']) {
    const client = await listenSse(`${base}/api/events`, { 'Last-Event-ID': lastEventId });
    t.teardown(client.close);
    t.is(client.response.status, 200);
    await waitFor(() => client.frames.some((frame) => frame.event === 'reset'), 5_000, `a reset for ${lastEventId}`);
    t.is(client.frames.find((frame) => frame.event === 'reset')?.id, String((await controlPlane.recentChanges()).at(-1)!.sequence));
    t.is(statusChanges(client.frames).length, 0);
  }
});

test('an idle stream carries a comment line every keep-alive interval', async (t) => {
  const { base } = await serve(t, { http: { eventKeepAliveMs: 100 } });
  const client = await listenSse(`${base}/api/events`);
  t.teardown(client.close);
  await waitFor(() => client.chunks.filter((chunk) => chunk.text.includes(': keep-alive')).length >= 5, 5_000, 'five heartbeats');
  const beats = client.chunks.filter((chunk) => chunk.text.includes(': keep-alive')).map((chunk) => chunk.at);
  const gaps = beats.slice(1).map((at, n) => at - beats[n]!);
  t.true(Math.max(...gaps) < 2_000, `heartbeats ${gaps.join(', ')} ms apart`);
  t.is(client.frames.length, 1, 'comments are not events (only the retry frame)');
});

test('bad queries are 400 problems; other methods 405', async (t) => {
  const { call } = await serve(t);
  for (const query of ['?instanceId=Not_A_Name', '?instanceId=', '?since=3', '?lastEventId=abc', '?lastEventId=-1']) {
    const response = await call('GET', `/api/events${query}`);
    t.is(response.status, 400, query);
    t.regex(response.type, /application\/problem\+json/);
  }
  t.is((await call('POST', '/api/events')).status, 405);
});

test('a client that disconnects is let go: its connection closes and events keep flowing to others', async (t) => {
  const { base, server, controlPlane } = await serve(t);
  const leaving = await listenSse(`${base}/api/events`);
  const staying = await listenSse(`${base}/api/events`);
  t.teardown(staying.close);
  await controlPlane.create({ name: 'a' });
  await waitFor(() => statusChanges(leaving.frames).length === 1 && statusChanges(staying.frames).length === 1, 5_000, 'both see Pending');
  leaving.close();
  await leaving.done;
  const connections = () => new Promise<number>((resolve) => server.getConnections((_error, count) => resolve(count)));
  await waitFor(async () => (await connections()) === 1, 5_000, 'the server closed the leaving client’s connection');
  await controlPlane.start('a');
  await waitFor(() => statusChanges(staying.frames).length === 3, 5_000, 'the other client goes on');
  t.is(statusChanges(leaving.frames).length, 1);
});

test('a client that stops reading is sent an overflow event and disconnected, not buffered without bound', async (t) => {
  const { base, controlPlane } = await serve(t, { http: { eventMaxBufferedBytes: 64 * 1024 } });
  const received: string[] = [];
  let response!: http.IncomingMessage;
  await new Promise<void>((resolve, reject) => {
    http.get(`${base}/api/events`, (res) => {
      response = res;
      res.pause(); // a client that stopped reading
      resolve();
    }).on('error', reject);
  });
  const ended = new Promise<void>((resolve) => response.on('end', resolve));
  // Far more than the socket buffers and the 64 KiB allowance together.
  const change = { ...makeChange('i', 1), cause: 'x'.repeat(200) };
  for (let i = 0; i < 40_000; i++) await controlPlane.store.appendChange({ ...change, instanceId: `i-${i % 10}` });
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => received.push(chunk));
  response.resume();
  await ended;
  const frames = received.join('').split('\n\n').map(parseSseFrame).filter((frame): frame is SseFrame => frame !== undefined);
  t.is(frames.at(-1)?.event, 'overflow', 'the stream ends with an overflow event');
  t.regex(String(frames.at(-1)?.data?.reason), /Last-Event-ID/);
  const delivered = statusChanges(frames).length;
  t.log(`${delivered} events delivered before the overflow`);
  t.true(delivered < 40_000);
});
