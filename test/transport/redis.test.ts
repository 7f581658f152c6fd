import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { testWithRedis } from '../helpers/engines.js';
import { Redis } from 'ioredis';
import { PlatformWorker } from '../../src/actors/platform-worker.js';
import { WorkloadClient } from '../../src/actors/workload-client.js';
import { DraasError } from '../../src/errors.js';
import type { WorkloadSpec } from '../../src/platforms/driver.js';
import { newCommand, newEvent, type EventEnvelope } from '../../src/transport/envelope.js';
import { createRedisTransport, type RedisTransport, type RedisTransportOptions } from '../../src/transport/redis.js';
import { topics } from '../../src/transport/transport.js';
import { MemoryDriver } from '../fixtures/memory-driver.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { eventually, transportContract } from './contract.js';

const { test, available: redisAvailable } = testWithRedis('redis transport');

let shared: RedisServer | undefined;

test.before(async () => {
  shared = await startRedisServer();
});

test.after.always(async () => {
  await shared?.stop();
});

/** Fast settings for tests: short BLOCK, quick reclaim, quick reconnect. */
function testOptions(url: string, prefix: string, extra: Partial<RedisTransportOptions> = {}): RedisTransportOptions {
  return {
    url,
    prefix,
    blockMs: 500,
    claimIdleMs: 1_000,
    retryDelayMs: 200,
    maxDeliveries: 3,
    shutdownGraceMs: 200,
    connectTimeoutMs: 5_000,
    reconnect: { initialMs: 100, maxMs: 1_000 },
    ...extra,
  };
}

async function transport(t: ExecutionContext, url: string, prefix: string, extra: Partial<RedisTransportOptions> = {}): Promise<RedisTransport> {
  const created = await createRedisTransport(testOptions(url, prefix, extra));
  t.teardown(() => created.close());
  return created;
}

if (redisAvailable) transportContract('redis', async (t) => {
  const prefix = `test:${randomUUID().slice(0, 8)}:`;
  const url = shared!.url;
  return { requester: await transport(t, url, prefix), worker: await transport(t, url, prefix) };
});

// ---------------------------------------------------------------------------
// Redis-specific behaviour: redelivery, dead letters, outages.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rawClient(t: ExecutionContext, url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 2, retryStrategy: () => 100, lazyConnect: false });
  client.on('error', () => undefined);
  t.teardown(() => client.disconnect());
  return client;
}

async function settled<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

test('redis: commands left pending by a dead consumer are reclaimed and completed once; a live slow one is not', async (t) => {
  const url = shared!.url;
  const prefix = `test:${randomUUID().slice(0, 8)}:`;
  const queue = 'commands.reclaim';
  // Heartbeats run every claimIdleMs / 3: 500 ms of slack for a loaded machine's event-loop lag.
  const claimIdleMs = 1_500;
  const requester = await transport(t, url, prefix, { claimIdleMs });
  const doomed = await transport(t, url, prefix, { claimIdleMs, shutdownGraceMs: 100 });
  const survivor = await transport(t, url, prefix, { claimIdleMs });

  const startedOnDoomed = new Set<string>();
  await doomed.consume(queue, (command) => {
    startedOnDoomed.add(command.commandId);
    return new Promise(() => undefined); // never finishes: this worker "hangs, then dies"
  });
  const commands = Array.from({ length: 5 }, (_, n) => newCommand('test.work', `inst-${n}`, { n }));
  const replies = commands.map((command) => settled(requester.request(queue, command, { timeoutMs: 30_000 })));
  await eventually(() => startedOnDoomed.size === 5, 10_000, 'the doomed consumer took all commands');

  const completions = new Map<string, number>();
  await survivor.consume(queue, async (command) => {
    completions.set(command.commandId, (completions.get(command.commandId) ?? 0) + 1);
    return { n: (command.payload as { n: number }).n, by: 'survivor' };
  });
  // The doomed consumer is alive (its heartbeat keeps its entries fresh): nothing is taken from it.
  await sleep(2 * claimIdleMs);
  t.is(completions.size, 0, 'a live consumer keeps its slow commands');

  await doomed.close(); // leaves its 5 entries pending, unacknowledged
  const outcomes = await Promise.all(replies);
  for (const [n, outcome] of outcomes.entries()) {
    t.deepEqual(outcome, { ok: true, value: { n, by: 'survivor' } });
  }
  for (const command of commands) t.is(completions.get(command.commandId), 1, `${command.commandId} executed once`);

  const raw = rawClient(t, url);
  const summary = (await raw.xpending(survivor.keys.commandStream(queue), 'workers')) as unknown[];
  t.is(Number(summary[0]), 0, 'nothing left pending');
  t.is(await raw.xlen(survivor.keys.commandStream(queue)), 0, 'acknowledged entries are deleted');
});

test('redis: a handler that keeps crashing lands in the dead-letter stream after maxDeliveries and its caller gets an error', async (t) => {
  const url = shared!.url;
  const prefix = `test:${randomUUID().slice(0, 8)}:`;
  const queue = 'commands.poison';
  const requester = await transport(t, url, prefix);
  const worker = await transport(t, url, prefix, { maxDeliveries: 3 });
  const attempts = new Map<string, number>();
  await worker.consume(queue, async (command) => {
    const attempt = (attempts.get(command.commandId) ?? 0) + 1;
    attempts.set(command.commandId, attempt);
    throw new TypeError(`cannot read properties of undefined (attempt ${attempt})`);
  });
  const poison = newCommand('test.poison', 'inst-1', { bad: true });
  const started = Date.now();
  const outcome = await settled(requester.request(queue, poison, { timeoutMs: 30_000 }));
  const elapsed = Date.now() - started;
  t.false(outcome.ok);
  const error = outcome.ok ? undefined : outcome.error;
  t.true(error instanceof DraasError);
  const draas = error as DraasError;
  t.is(draas.code, 'worker-error');
  t.regex(draas.message, new RegExp(`^command ${poison.commandId} \\(test.poison\\) dead-lettered after 3 deliveries: cannot read properties of undefined \\(attempt 3\\)$`));
  t.like(draas.details, { queue, commandId: poison.commandId, deliveries: 3 });
  t.is(attempts.get(poison.commandId), 3, 'ran exactly maxDeliveries times');
  t.log(`dead-lettered after ${elapsed} ms`);

  const raw = rawClient(t, url);
  const deadLetters = await raw.xrange(worker.keys.deadLetter(queue), '-', '+');
  t.is(deadLetters.length, 1);
  const fields = new Map<string, string>();
  const list = deadLetters[0]![1];
  for (let i = 0; i + 1 < list.length; i += 2) fields.set(list[i]!, list[i + 1]!);
  t.is(fields.get('commandId'), poison.commandId);
  t.is(fields.get('deliveries'), '3');
  t.is(fields.get('lastError'), 'cannot read properties of undefined (attempt 3)');
  t.deepEqual(JSON.parse(fields.get('command') ?? 'null'), poison);
  const summary = (await raw.xpending(worker.keys.commandStream(queue), 'workers')) as unknown[];
  t.is(Number(summary[0]), 0, 'acknowledged');
  t.is(await raw.hlen(worker.keys.commandErrors(queue)), 0, 'its recorded errors are cleared');

  await sleep(1_500);
  t.is(attempts.get(poison.commandId), 3, 'never run again');
});

async function ownServer(t: ExecutionContext, appendonly: boolean): Promise<RedisServer> {
  const server = await startRedisServer({ appendonly });
  t.teardown(() => server.stop());
  return server;
}

async function timed<T>(promise: Promise<T>): Promise<{ ms: number; outcome: Awaited<ReturnType<typeof settled<T>>> }> {
  const started = Date.now();
  const outcome = await settled(promise);
  return { ms: Date.now() - started, outcome };
}

function statusOf(outcome: { ok: boolean; error?: unknown }): number | undefined {
  return !outcome.ok && outcome.error instanceof DraasError ? outcome.error.status : undefined;
}

test.serial('redis: across a Redis restart, requests fail fast while it is down, then everything resumes and no event is lost', async (t) => {
  const server = await ownServer(t, true);
  const prefix = 'restart:';
  const queue = 'commands.restart';
  const topic = 'restart-events';
  const logs: string[] = [];
  const requester = await transport(t, server.url, prefix, { reconnect: { initialMs: 300, maxMs: 1_000 }, log: (m) => logs.push(m) });
  const worker = await transport(t, server.url, prefix, { reconnect: { initialMs: 300, maxMs: 1_000 } });
  const handlerStarted = new Set<string>();
  await worker.consume(queue, async (command) => {
    handlerStarted.add(command.commandId);
    const { delayMs } = command.payload as { delayMs: number };
    await sleep(delayMs);
    return { done: command.commandId };
  });
  const received: string[] = [];
  await requester.subscribe(topic, (event) => received.push(event.eventId));
  const published: string[] = [];
  const publish = async (via: RedisTransport) => {
    const event = newEvent('test.tick', 'inst-1', { n: published.length });
    await via.publish(topic, event);
    published.push(event.eventId);
  };
  await publish(worker);
  await publish(worker);
  await eventually(() => received.length === 2, 10_000, 'events before the restart');
  t.true(await requester.healthy());

  // A request in flight when Redis dies: its handler finishes while Redis is down.
  const inFlightCommand = newCommand('test.slow', 'inst-1', { delayMs: 1_500 });
  const inFlight = timed(requester.request(queue, inFlightCommand, { timeoutMs: 20_000 }));
  await eventually(() => handlerStarted.has(inFlightCommand.commandId), 10_000, 'in-flight handler started');

  await server.kill();
  await eventually(async () => !(await requester.healthy()), 10_000, 'unhealthy while Redis is down');
  const whileDown = await timed(requester.request(queue, newCommand('test.slow', 'inst-1', { delayMs: 0 }), { timeoutMs: 10_000 }));
  t.is(statusOf(whileDown.outcome), 503, 'a request while Redis is down fails with 503');
  t.true(whileDown.ms < 2_000, `failed fast (${whileDown.ms} ms)`);
  t.log(`request while Redis is down failed after ${whileDown.ms} ms`);
  t.regex(whileDown.outcome.ok ? '' : (whileDown.outcome.error as Error).message, /redis unreachable/);
  t.is(statusOf(await settled(worker.publish(topic, newEvent('test.lost', 'i', {})))), 503);
  t.is(statusOf(await settled(requester.presence.live('process'))), 503);
  await sleep(1_000);
  t.false(await requester.healthy());

  await server.restart();
  // Written straight into the stream as soon as Redis is back, likely before the subscriber reconnected.
  const raw = rawClient(t, server.url);
  for (let n = 0; n < 2; n += 1) {
    const event = newEvent('test.raw', 'inst-1', { n });
    await raw.xadd(requester.keys.events(topic), '*', 'event', JSON.stringify(event));
    published.push(event.eventId);
  }
  const recoveredAt = Date.now();
  await eventually(() => requester.healthy(), 15_000, 'healthy again after the restart');
  t.log(`healthy again ${Date.now() - recoveredAt} ms after Redis answered`);

  const first = await inFlight;
  t.log(`in-flight request settled after ${first.ms} ms: ${first.outcome.ok ? 'completed' : String(first.outcome.error)}`);
  t.true(first.outcome.ok || [503, 504].includes(statusOf(first.outcome) ?? 0), 'completed, or failed with 503/504');
  if (first.outcome.ok) t.deepEqual(first.outcome.value, { done: inFlightCommand.commandId });

  const later = newCommand('test.slow', 'inst-1', { delayMs: 0 });
  t.deepEqual(await requester.request(queue, later, { timeoutMs: 10_000 }), { done: later.commandId });
  await publish(worker);
  await eventually(() => received.length >= published.length, 10_000, 'every event after the reconnect');
  await sleep(200);
  t.deepEqual(received, published, 'every event exactly once, in order');
});

test.serial('redis: after a restart that lost all data, consumer groups are re-created and requests succeed', async (t) => {
  const server = await ownServer(t, false);
  const prefix = 'wiped:';
  const queue = 'commands.wiped';
  const logs: string[] = [];
  const node = await transport(t, server.url, prefix, { log: (m) => logs.push(m) });
  await node.consume(queue, async (command) => ({ done: command.commandId }));
  const topic = 'wiped-events';
  const received: string[] = [];
  await node.subscribe(topic, (event) => received.push(event.eventId));
  const before = newCommand('test.any', 'inst-1', {});
  t.deepEqual(await node.request(queue, before, { timeoutMs: 10_000 }), { done: before.commandId });

  await server.kill();
  await server.restart(); // empty: no stream, no group
  await eventually(() => node.healthy(), 15_000, 'healthy again');
  const after = newCommand('test.any', 'inst-1', {});
  t.deepEqual(await node.request(queue, after, { timeoutMs: 15_000 }), { done: after.commandId });
  t.true(logs.some((line) => line.includes('re-creating')), 'the lost group was noticed and re-created');
  const event = newEvent('test.after', 'inst-1', {});
  await node.publish(topic, event);
  await eventually(() => received.includes(event.eventId), 10_000, 'events flow again');
});

test('redis: createRedisTransport fails clearly when Redis cannot be reached', async (t) => {
  const server = await startRedisServer();
  const url = server.url;
  await server.stop();
  const started = Date.now();
  const outcome = await settled(createRedisTransport(testOptions(url, 'none:', { connectTimeoutMs: 1_000 })));
  const elapsed = Date.now() - started;
  t.is(statusOf(outcome), 503);
  t.regex(outcome.ok ? '' : (outcome.error as Error).message, /redis unreachable at redis:\/\/127\.0\.0\.1:\d+\/?.*not ready within 1000 ms/);
  t.true(elapsed < 5_000, `gave up after ${elapsed} ms`);
});

test.serial('redis: healthy() is false while a consumer loop makes no progress, even though PING answers', async (t) => {
  const server = await ownServer(t, false);
  const node = await transport(t, server.url, 'paused:');
  await node.consume('commands.paused', async () => 'ok');
  t.true(await node.healthy());
  const raw = rawClient(t, server.url);
  // XREADGROUP is a write command: CLIENT PAUSE WRITE holds it, while PING (and XREAD) still answer.
  await raw.call('CLIENT', 'PAUSE', '4000', 'WRITE');
  await eventually(async () => !(await node.healthy()), 10_000, 'unhealthy while the consumer loop is held');
  t.is(await raw.ping(), 'PONG');
  await raw.call('CLIENT', 'UNPAUSE');
  await eventually(() => node.healthy(), 10_000, 'healthy again once the loop returns');
});

test('redis: a platform worker and a workload client work over the Redis transport', async (t) => {
  const url = shared!.url;
  const prefix = `test:${randomUUID().slice(0, 8)}:`;
  const controlPlane = await transport(t, url, prefix);
  const workerNode = await transport(t, url, prefix);
  const driver = new MemoryDriver('process');
  const worker = new PlatformWorker({ transport: workerNode, driver, workerId: 'smoke-worker', heartbeatMs: 1_000 });
  await worker.start();
  t.teardown(() => worker.close());
  const exits: EventEnvelope[] = [];
  await controlPlane.subscribe(topics.workloadEvents, (event) => exits.push(event));

  const client = new WorkloadClient(controlPlane);
  const spec: WorkloadSpec = { instanceId: 'smoke', generation: 1, config: {}, env: {}, startTimeoutMs: 5_000 };
  const ref = await client.send('process', 'workload.start', 'smoke', spec, { workerId: 'smoke-worker', timeoutMs: 10_000 });
  t.like(ref, { instanceId: 'smoke', platform: 'process' });
  t.deepEqual(await client.send('process', 'workload.inspect', 'smoke', {}, { workerId: 'smoke-worker', timeoutMs: 10_000 }), { state: 'running', ref });
  const stopped = await client.send('process', 'workload.stop', 'smoke', { graceMs: 100 }, { workerId: 'smoke-worker', timeoutMs: 10_000 });
  t.true(stopped.wasRunning);
  await eventually(() => exits.some((event) => event.type === 'workload.exited' && event.instanceId === 'smoke'), 10_000, 'exit event');
  const unknown = await settled(client.send('process', 'workload.bogus' as 'workload.inspect', 'smoke', {}, { workerId: 'smoke-worker', timeoutMs: 10_000 }));
  t.is(statusOf(unknown), 400, 'an unknown command type is refused at once (a DraasError, not retried)');
});

test('redis: subscriptions to one topic share one reader; one started from an older id catches up in order while the others get each event once', async (t) => {
  const url = shared!.url;
  const prefix = `test:${randomUUID().slice(0, 8)}:`;
  const publisher = await transport(t, url, prefix);
  const node = await transport(t, url, prefix);
  const topic = `shared-${randomUUID().slice(0, 8)}`;
  const publish = async (n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const event = newEvent('test.shared', `i-${i}`, { i });
      await publisher.publish(topic, event);
      ids.push(event.eventId);
    }
    return ids;
  };
  const early = await publish(5);
  const live: string[] = [];
  const first = await node.subscribe(topic, (event) => live.push(event.eventId));
  const mutated: string[] = [];
  await node.subscribe(topic, (event) => {
    mutated.push(event.eventId);
    (event.payload as { i: number }).i = -1; // frozen: throws, and the next listener sees the event unchanged
  });
  const payloads: number[] = [];
  await node.subscribe(topic, (event) => payloads.push((event.payload as { i: number }).i));
  const later = await publish(5);
  await eventually(() => live.length === 5 && payloads.length === 5, 10_000, 'the live subscriptions got the later events');
  // Joins the running reader from the start of the stream.
  const replay: string[] = [];
  const fromStart = await node.subscribe(topic, (event) => replay.push(event.eventId), { after: '0' });
  const last = await publish(3);
  await eventually(() => replay.length === 13 && live.length === 8, 10_000, 'the replaying subscription caught up');
  await sleep(200);
  t.deepEqual(replay, [...early, ...later, ...last]);
  t.deepEqual(live, [...later, ...last]);
  t.deepEqual(mutated, [...later, ...last]);
  t.deepEqual(payloads, [0, 1, 2, 3, 4, 0, 1, 2]);
  t.is(fromStart.lastId, first.lastId);
  // One blocking connection for the topic on this node.
  const clients = await rawClient(t, url).client('LIST');
  t.is(String(clients).split('\n').filter((line) => line.includes(`events:${topic}`)).length, 1);
  await t.throwsAsync(node.subscribe(topic, () => undefined, { after: 'yesterday' }), { instanceOf: DraasError });
});
