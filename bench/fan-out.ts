/**
 * Event fan-out: events/s delivered to 1 and to 100 library subscribers,
 * through the memory transport (baseline: a bare EventEmitter with the same
 * number of listeners) and the Redis transport (100 subscribers on 4 nodes;
 * baseline: the same publisher and read loops hand-written with ioredis; the
 * median of 5 rounds alternating with the baseline's),
 * and to 1 and 100 SSE clients of
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

type ReadReply = [string, [string, string[]][]][] | null;

/**
 * The same fan-out hand-written with ioredis: a publisher awaiting each XADD
 * (MAXLEN ~) of the event's JSON, and `nodes` connections each in an XREAD
 * BLOCK loop that parses each entry once and counts it for its share of the
 * subscribers. The same Redis traffic as the transport's (one read loop per
 * node), without validation or listeners: the floor on this machine.
 */
async function rawFanOut(url: string, nodes: number, subscribers: number, events: number): Promise<number> {
  const publisher = new Redis(url);
  const readers = Array.from({ length: nodes }, () => new Redis(url));
  const key = `raw-fan-${Math.random().toString(36).slice(2)}`;
  const expected = subscribers * events;
  let delivered = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  let running = true;
  try {
    const loops = readers.map(async (reader, node) => {
      const share = Math.floor(subscribers / nodes) + (node < subscribers % nodes ? 1 : 0);
      let last = '0-0';
      while (running) {
        const reply = (await reader.xread('COUNT', 100, 'BLOCK', 200, 'STREAMS', key, last)) as ReadReply;
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            JSON.parse(fields[1] ?? '{}');
            delivered += share;
            if (delivered === expected) done();
          }
        }
      }
    });
    const began = performance.now();
    for (let i = 0; i < events; i++) {
      await publisher.xadd(key, 'MAXLEN', '~', 10_000, '*', 'event', JSON.stringify(newEvent('instance.status-changed', `i-${i % 50}`, payload)));
    }
    await all;
    const rate = (expected / (performance.now() - began)) * 1000;
    running = false;
    await Promise.all(loops);
    return rate;
  } finally {
    running = false;
    for (const connection of [publisher, ...readers]) connection.disconnect();
  }
}

/** The middle value (of an odd count). */
function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
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
    const redisEvents = options.quick ? 500 : 2_000;
    const rounds = options.quick ? 1 : 5;
    const publisher = await createRedisTransport({ url: redis.url, prefix: 'fan:' });
    // Subscribers spread over 4 nodes (4 transports, each with its own connections), as 4 control-plane replicas would be; the publisher is a fifth.
    const nodes = await Promise.all(Array.from({ length: 4 }, () => createRedisTransport({ url: redis.url, prefix: 'fan:' })));
    try {
      for (const subscribers of [1, 100]) {
        const sides = subscribers === 1 ? nodes.slice(0, 1) : nodes;
        // Rounds alternating with the raw baseline (the machine's load moves from second to second): the median of each.
        const raws: number[] = [];
        const rates: number[] = [];
        for (let round = 0; round < rounds; round++) {
          raws.push(await rawFanOut(redis.url, sides.length, subscribers, redisEvents));
          rates.push(await fanOut(publisher, sides, subscribers, redisEvents));
        }
        const raw = median(raws);
        const rate = median(rates);
        const where = subscribers === 1 ? '' : ' on 4 nodes';
        rows.push(
          row(`redis transport: deliveries/s to ${subscribers} subscriber(s)${where}`, rate, 'events/s', {
            baseline: raw,
            ...(subscribers === 100 ? { target: '>= 150000' } : {}),
            note: 'baseline: raw XADD publisher + one raw XREAD loop per node',
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
