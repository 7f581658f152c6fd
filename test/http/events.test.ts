/**
 * GET /api/events: instance status changes as Server-Sent Events, over real
 * HTTP, for every instance or one; bad queries are problems; a client that
 * goes away or falls behind is let go.
 */
import test from 'ava';
import http from 'node:http';
import { newEvent } from '../../src/transport/envelope.js';
import { topics } from '../../src/transport/transport.js';
import { waitFor } from '../helpers/processes.js';
import { serve } from '../helpers/memory-api.js';

interface Frame {
  event?: string;
  id?: string;
  data?: Record<string, unknown>;
  retry?: number;
}

function parseFrame(text: string): Frame | undefined {
  const frame: Frame = {};
  for (const line of text.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const [field, ...rest] = line.split(': ');
    const value = rest.join(': ');
    if (field === 'event') frame.event = value;
    else if (field === 'id') frame.id = value;
    else if (field === 'data') frame.data = JSON.parse(value) as Record<string, unknown>;
    else if (field === 'retry') frame.retry = Number(value);
  }
  return Object.keys(frame).length > 0 ? frame : undefined;
}

/** An SSE client over fetch: collects frames as they arrive. */
async function listen(url: string) {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  const frames: Frame[] = [];
  const done = (async () => {
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const frame = parseFrame(buffered.slice(0, end));
          buffered = buffered.slice(end + 2);
          if (frame) frames.push(frame);
        }
      }
    } catch {
      // aborted
    }
  })();
  return { response, frames, close: () => controller.abort(), done };
}

const statusChanges = (frames: Frame[]) => frames.filter((frame) => frame.event === 'status-changed');

test('status changes arrive as they happen: Pending, Starting, Running, with an id per event', async (t) => {
  const { base, controlPlane } = await serve(t);
  const client = await listen(`${base}/api/events`);
  t.teardown(client.close);
  t.is(client.response.status, 200);
  t.regex(client.response.headers.get('content-type') ?? '', /^text\/event-stream/);
  t.is(client.response.headers.get('cache-control'), 'no-cache');
  await controlPlane.create({ name: 'a' });
  await controlPlane.start('a');
  await waitFor(() => statusChanges(client.frames).length === 3, 5_000, 'three status changes');
  t.is(client.frames[0]?.retry, 2000);
  t.deepEqual(
    statusChanges(client.frames).map((frame) => `${String(frame.data?.from)}→${String(frame.data?.to)}`),
    ['null→Pending', 'Pending→Starting', 'Starting→Running'],
  );
  const last = statusChanges(client.frames).at(-1)!;
  t.like(last.data, { instanceId: 'a', desiredState: 'Running', observedState: 'Running', generation: 1 });
  t.is(typeof last.data?.at, 'string');
  t.is(new Set(statusChanges(client.frames).map((frame) => frame.id)).size, 3, 'every event has its own id');
});

test('?instanceId= streams one instance only', async (t) => {
  const { base, controlPlane } = await serve(t);
  const client = await listen(`${base}/api/events?instanceId=b`);
  t.teardown(client.close);
  await controlPlane.create({ name: 'a' });
  await controlPlane.create({ name: 'b' });
  await controlPlane.start('a');
  await controlPlane.start('b');
  await waitFor(() => statusChanges(client.frames).length === 3, 5_000, 'b’s three changes');
  t.true(statusChanges(client.frames).every((frame) => frame.data?.instanceId === 'b'));
});

test('bad queries are 400 problems; other methods 405', async (t) => {
  const { call } = await serve(t);
  for (const query of ['?instanceId=Not_A_Name', '?instanceId=', '?since=3']) {
    const response = await call('GET', `/api/events${query}`);
    t.is(response.status, 400, query);
    t.regex(response.type, /application\/problem\+json/);
  }
  t.is((await call('POST', '/api/events')).status, 405);
});

test('a client that disconnects is let go: its connection closes and events keep flowing to others', async (t) => {
  const { base, server, controlPlane } = await serve(t);
  const leaving = await listen(`${base}/api/events`);
  const staying = await listen(`${base}/api/events`);
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
  const { base, transport } = await serve(t, { http: { eventMaxBufferedBytes: 64 * 1024 } });
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
  const payload = { from: 'Starting', to: 'Running', cause: 'x'.repeat(200), desiredState: 'Running', observedState: 'Running', generation: 1, observedGeneration: 1 };
  // Far more than the socket buffers and the 64 KiB allowance together.
  for (let i = 0; i < 40_000; i++) await transport.publish(topics.instanceEvents, newEvent('instance.status-changed', `i-${i % 10}`, payload));
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => received.push(chunk));
  response.resume();
  await ended;
  const frames = received.join('').split('\n\n').map(parseFrame).filter((frame): frame is Frame => frame !== undefined);
  t.is(frames.at(-1)?.event, 'overflow', 'the stream ends with an overflow event');
  const delivered = frames.filter((frame) => frame.event === 'status-changed').length;
  t.log(`${delivered} events delivered before the overflow`);
  t.true(delivered < 40_000);
});
