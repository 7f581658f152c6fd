/**
 * A poison command: the worker's handler crashes on it every time (a plain
 * Error, which the Redis transport redelivers). After maxDeliveries it is
 * dead-lettered and the start request gets a problem+json error instead of
 * hanging. Control plane and worker run in this process, over a private Redis.
 */
import { Redis } from 'ioredis';
import { PlatformWorker } from '../../src/actors/platform-worker.js';
import { startClusterControlPlane } from '../../src/cluster.js';
import { RedisKeys } from '../../src/redis/keys.js';
import { createRedisTransport, type RedisTransportOptions } from '../../src/transport/redis.js';
import { queues } from '../../src/transport/transport.js';
import { MemoryDriver } from '../fixtures/memory-driver.js';
import { api, platformOf, redisServer, sleep } from './_harness.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

const MAX_DELIVERIES = 3;
const START_TIMEOUT_MS = 20_000;

test('a command that crashes its handler every time is dead-lettered after maxDeliveries and the start answers with an error', async (t) => {
  t.timeout(90_000);
  const redis = await redisServer(t);
  const prefix = 'poison:';
  const options: RedisTransportOptions = {
    url: redis.url,
    prefix,
    claimIdleMs: 1_500,
    retryDelayMs: 100,
    maxDeliveries: MAX_DELIVERIES,
    blockMs: 500,
    shutdownGraceMs: 500,
    reconnect: { initialMs: 100, maxMs: 1_000 },
  };
  const controlPlane = await startClusterControlPlane({
    redis: options,
    startTimeoutMs: START_TIMEOUT_MS,
    replySlackMs: 5_000,
    // No automatic restart: the driver's calls must be those of this one start.
    restartPolicy: { initialBackoffMs: 600_000, maxBackoffMs: 600_000 },
  });
  t.teardown(() => controlPlane.close());
  const driver = new MemoryDriver('process');
  driver.failStartsWith = new Error('handler bug');
  const workerTransport = await createRedisTransport(options);
  const worker = new PlatformWorker({ transport: workerTransport, driver, workerId: 'poisoned', heartbeatMs: 500 });
  await worker.start();
  t.teardown(async () => {
    await worker.close();
    await workerTransport.close();
  });
  const { url } = await controlPlane.listen({ port: 0 });
  const call = api(url);
  t.is((await platformOf(call))?.available, true);

  t.is((await call('POST', '/api/server/instances', { name: 'poison' })).status, 201);
  const start = await call('POST', '/api/server/instances/poison/start', undefined, 60_000);
  t.log(`start answered ${start.status} in ${start.ms} ms: ${String(start.body.detail)}`);
  t.is(start.status, 502, JSON.stringify(start.body));
  t.regex(start.contentType, /^application\/problem\+json/);
  t.regex(String(start.body.type), /^urn:draas:problem:/);
  t.regex(String(start.body.detail), new RegExp(`dead-lettered after ${MAX_DELIVERIES} deliveries: handler bug`));
  t.true(start.ms < START_TIMEOUT_MS, 'answered long before the start timeout: not a hang');
  t.is((await call('GET', '/api/server/instances/poison')).body.status, 'Failed');

  // The command sits in the dead-letter stream with its facts.
  const raw = new Redis(redis.url, { maxRetriesPerRequest: 2 });
  raw.on('error', () => undefined);
  t.teardown(() => raw.disconnect());
  const keys = new RedisKeys(prefix);
  const deadLetters = (await raw.xrange(keys.deadLetter(queues.workerCommands('process', 'poisoned')), '-', '+')).map(([id, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { id, fields };
  });
  t.is(deadLetters.length, 1, JSON.stringify(deadLetters));
  const letter = deadLetters[0]!.fields;
  t.like(letter, { queue: 'commands.process.worker.poisoned', type: 'workload.start', deliveries: String(MAX_DELIVERIES), lastError: 'handler bug' });
  t.regex(letter.commandId ?? '', /\S/);
  t.is((JSON.parse(letter.command ?? '{}') as { instanceId?: string }).instanceId, 'poison');
  t.is(await raw.xlen(keys.commandStream(queues.workerCommands('process', 'poisoned'))), 0, 'nothing left in the queue');

  // The handler ran once per delivery, and never again.
  const startCalls = () => driver.calls.filter((c) => c.op === 'start' && c.instanceId === 'poison').length;
  t.is(startCalls(), MAX_DELIVERIES);
  await sleep(2_000);
  t.is(startCalls(), MAX_DELIVERIES, 'no delivery after the dead letter');
});
