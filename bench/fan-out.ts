/**
 * Event fan-out: events/s delivered to 1 and to 100 library subscribers,
 * through the memory transport (baseline: a bare EventEmitter with the same
 * number of listeners) and the Redis transport (100 subscribers on 4 nodes;
 * baseline: what a publisher awaiting each raw XADD allows), and to 1 and 100 SSE clients of
 * `GET /api/events` over loopback HTTP (baseline: the same number of library
 * subscribers on the memory transport, in the same run).
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { newEvent } from '../src/transport/envelope.js';
import { MemoryTransport } from '../src/transport/memory.js';
import { createRedisTransport } from '../src/transport/redis.js';
import type { Transport } from '../src/transport/transport.js';
import http from 'node:http';
import { ControlPlane } from '../src/actors/control-plane.js';
import { MemoryInstanceStore, type StatusChange } from '../src/store/instance-store.js';
import { createHttpApp } from '../src/http/app.js';
import { serveHttp } from '../src/http/serve.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { row, type Row } from './lib/results.js';

const payload = { from: 'Starting', to: 'Running', cause: 'startWorkload.done', desiredState: 'Running', observedState: 'Running', generation: 1, observedGeneration: 1 };

/** Publishes `events` events and waits until every subscriber got every one; returns deliveries/s. */
async function fanOut(publisher: Transport, subscriberSide: Transport[], subscribers: number, events: number): Promise<number> {
  const topic = `bench-${subscribers}-${Math.random().toString(36).slice(2)}`;
  let delivered = 0;
  const expected = subscribers * events;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const subscriptions = [];
  for (let i = 0; i < subscribers; i++) {
    const side = subscriberSide[i % subscriberSide.length]!;
    subscriptions.push(
      await side.subscribe(topic, () => {
        if (++delivered === expected) done();
      }),
    );
  }
  const began = performance.now();
  for (let i = 0; i < events; i++) await publisher.publish(topic, newEvent('instance.status-changed', `i-${i % 50}`, payload));
  await all;
  const elapsed = performance.now() - began;
  for (const subscription of subscriptions) await subscription.close();
  return (expected / elapsed) * 1000;
}

/**
 * Events/s a bare ioredis client publishes to a capped stream, awaiting each
 * XADD as `fanOut`'s publisher does: with every event delivered to every
 * subscriber at once, deliveries/s would be this times the subscribers.
 */
async function rawPublishRate(url: string, events: number): Promise<number> {
  const client = new Redis(url);
  try {
    const key = `raw-publish-${Math.random().toString(36).slice(2)}`;
    const body = JSON.stringify(newEvent('instance.status-changed', 'i-0', payload));
    await client.xadd(key, 'MAXLEN', '~', 10_000, '*', 'event', body);
    const began = performance.now();
    for (let i = 0; i < events; i++) await client.xadd(key, 'MAXLEN', '~', 10_000, '*', 'event', JSON.stringify(newEvent('instance.status-changed', `i-${i % 50}`, payload)));
    return (events / (performance.now() - began)) * 1000;
  } finally {
    client.disconnect();
  }
}

function emitterBaseline(subscribers: number, events: number): number {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let delivered = 0;
  for (let i = 0; i < subscribers; i++) emitter.on('event', () => delivered++);
  const began = performance.now();
  for (let i = 0; i < events; i++) emitter.emit('event', newEvent('instance.status-changed', `i-${i % 50}`, payload));
  return (delivered / (performance.now() - began)) * 1000;
}

const FRAME_MARK = 'event: status-changed\n';

function changeOf(i: number): Omit<StatusChange, 'sequence'> {
  return {
    instanceId: `i-${i % 50}`,
    from: 'Starting',
    to: 'Running',
    cause: 'startWorkload.done',
    desired: 'Running',
    observed: 'Running',
    generation: 1,
    observedGeneration: 1,
    at: new Date().toISOString(),
  };
}

/**
 * Opens `clients` SSE streams, records `events` status changes in the change
 * log (where the stream reads them from), and returns deliveries/s once every
 * client has every event.
 */
async function sseFanOut(clients: number, events: number): Promise<number> {
  const transport = new MemoryTransport();
  const store = new MemoryInstanceStore();
  const controlPlane = new ControlPlane({ transport, store });
  await controlPlane.open();
  // Throughput, not slow-client protection, is measured: let clients fall behind freely.
  const listener = await serveHttp(createHttpApp(controlPlane, { log: () => undefined, eventMaxBufferedBytes: 2 ** 30 }));
  const agent = new http.Agent({ maxSockets: clients });
  const expected = clients * events;
  let delivered = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const responses: http.IncomingMessage[] = [];
  try {
    await Promise.all(
      Array.from({ length: clients }, () =>
        new Promise<void>((resolve, reject) => {
          http.get(`${listener.url}/api/events`, { agent }, (response) => {
            responses.push(response);
            response.setEncoding('utf8');
            let carry = '';
            response.on('data', (chunk: string) => {
              const text = carry + chunk;
              for (let at = text.indexOf(FRAME_MARK); at >= 0; at = text.indexOf(FRAME_MARK, at + FRAME_MARK.length)) {
                if (++delivered === expected) done();
              }
              carry = text.slice(-(FRAME_MARK.length - 1));
            });
            resolve();
          }).on('error', reject);
        }),
      ),
    );
    const began = performance.now();
    for (let i = 0; i < events; i++) await store.appendChange(changeOf(i));
    await all;
    return (expected / (performance.now() - began)) * 1000;
  } finally {
    for (const response of responses) response.destroy();
    agent.destroy();
    await listener.close();
    await controlPlane.close();
    await transport.close();
  }
}

export async function benchFanOut(options: { quick: boolean }): Promise<Row[]> {
  const events = options.quick ? 2_000 : 20_000;
  const rows: Row[] = [];
  const memory = new MemoryTransport();
  const library = new Map<number, number>();
  for (const subscribers of [1, 100]) {
    library.set(subscribers, await fanOut(memory, [memory], subscribers, events));
    rows.push(row(`memory transport: deliveries/s to ${subscribers} subscriber(s)`, library.get(subscribers)!, 'events/s', { baseline: emitterBaseline(subscribers, events) }));
  }
  for (const clients of [1, 100]) {
    const sseEvents = clients === 1 ? events : Math.max(200, events / 10);
    rows.push(row(`SSE (GET /api/events): deliveries/s to ${clients} client(s)`, await sseFanOut(clients, sseEvents), 'events/s', { baseline: library.get(clients)! }));
  }
  const redis = await startRedisServer();
  try {
    const redisEvents = options.quick ? 500 : 5_000;
    const publishBound = await rawPublishRate(redis.url, redisEvents);
    const publisher = await createRedisTransport({ url: redis.url, prefix: 'fan:' });
    // Subscribers spread over 4 nodes (4 transports, each with its own connections), as 4 control-plane replicas would be; the publisher is a fifth.
    const nodes = await Promise.all(Array.from({ length: 4 }, () => createRedisTransport({ url: redis.url, prefix: 'fan:' })));
    try {
      for (const subscribers of [1, 100]) {
        const rate = await fanOut(publisher, subscribers === 1 ? nodes.slice(0, 1) : nodes, subscribers, redisEvents);
        const where = subscribers === 1 ? '' : ' on 4 nodes';
        rows.push(
          row(`redis transport: deliveries/s to ${subscribers} subscriber(s)${where}`, rate, 'events/s', {
            baseline: publishBound * subscribers,
            ...(subscribers === 100 ? { target: '>= 150000' } : {}),
            note: 'baseline: raw sequential XADD/s of the same event x subscribers (the bound of a publisher awaiting each publish)',
          }),
        );
      }
    } finally {
      await publisher.close();
      for (const node of nodes) await node.close();
    }
  } finally {
    await redis.stop();
  }
  return rows;
}
