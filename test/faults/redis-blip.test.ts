/**
 * Redis restarts (killed, started again on the same port with its
 * append-only data) while calls are under way: a store read and a command
 * request issued while it is down succeed by retry with backoff once it is
 * back within the retry deadline, instead of failing with 503; a store write
 * (not safe to repeat) still fails fast.
 */
import { randomUUID } from 'node:crypto';
import { DraasError } from '../../src/errors.js';
import { RedisInstanceStore } from '../../src/store/redis-store.js';
import { newCommand } from '../../src/transport/envelope.js';
import { createRedisTransport } from '../../src/transport/redis.js';
import { testWithRedis } from '../helpers/engines.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { makeRecord } from '../store/fixtures.js';

const { test } = testWithRedis('redis blip');

/** Quick reconnects, so that a short outage ends within the retry deadline (1.5 s). */
const reconnect = { initialMs: 100, maxMs: 400 };

test.serial('a store read issued while Redis restarts succeeds by retry; a write issued then fails fast with 503', async (t) => {
  const server = await startRedisServer({ appendonly: true });
  t.teardown(() => server.stop());
  const store = await RedisInstanceStore.open({ url: server.url, prefix: `blip-${randomUUID().slice(0, 8)}:`, log: () => undefined });
  t.teardown(() => store.close());
  await store.insert(makeRecord('blip'));

  await server.kill();
  const write = await t.throwsAsync<DraasError>(store.update(makeRecord('blip')), { instanceOf: DraasError });
  t.is(write?.code, 'unavailable', 'a write is not repeated: it fails at once');

  const began = performance.now();
  const read = store.get('blip');
  read.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 150));
  await server.restart();
  const record = await read;
  t.log(`the read answered after ${(performance.now() - began).toFixed(0)} ms`);
  t.is(record?.id, 'blip', 'the read issued while Redis was down got its answer');
});

test.serial('a command requested while Redis restarts is delivered by retry and answered', async (t) => {
  const server = await startRedisServer({ appendonly: true });
  t.teardown(() => server.stop());
  const prefix = `blip-${randomUUID().slice(0, 8)}:`;
  const worker = await createRedisTransport({ url: server.url, prefix, reconnect, blockMs: 500 });
  t.teardown(() => worker.close());
  const client = await createRedisTransport({ url: server.url, prefix, reconnect, blockMs: 500 });
  t.teardown(() => client.close());
  const handled: string[] = [];
  await worker.consume('blip-queue', async (command) => {
    handled.push(command.commandId);
    return { pong: command.instanceId };
  });
  t.deepEqual(await client.request('blip-queue', newCommand('ping', 'before', {}), { timeoutMs: 5_000 }), { pong: 'before' });

  await server.kill();
  const command = newCommand('ping', 'during', {});
  const answer = client.request('blip-queue', command, { timeoutMs: 10_000 });
  answer.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 150));
  await server.restart();
  t.deepEqual(await answer, { pong: 'during' }, 'not a 503: the XADD was repeated once Redis was back');
  t.true(handled.includes(command.commandId));
});

test.serial('without Redis for longer than the retry deadline, a request still fails fast and retryably', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const client = await createRedisTransport({ url: server.url, prefix: `blip-${randomUUID().slice(0, 8)}:`, reconnect });
  t.teardown(() => client.close());
  await server.kill();
  const began = performance.now();
  const error = await t.throwsAsync<DraasError>(client.request('nobody', newCommand('ping', 'x', {}), { timeoutMs: 30_000 }), { instanceOf: DraasError });
  const took = performance.now() - began;
  t.is(error?.code, 'unavailable');
  t.true(took < 3_000, `failed after ${took.toFixed(0)} ms, not after the 30 s timeout`);
});
