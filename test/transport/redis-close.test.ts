/**
 * Closing the Redis transport while Redis is killed: its blocking loops
 * (consumers, subscriptions, the reply inbox) end at once. ioredis never
 * settles a command queued on a connection that is reconnecting once that
 * connection is disconnected, so a loop that waited for its call in flight
 * would wait forever (issue 10, item 6).
 */
import { newCommand } from '../../src/transport/envelope.js';
import { createRedisTransport } from '../../src/transport/redis.js';
import { testWithRedis } from '../helpers/engines.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { settledWithin } from '../helpers/processes.js';

const { test } = testWithRedis('redis transport close');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Far above what a close that does not wait for Redis takes; the transport's own bound on a consumer would be 21 s. */
const SHUTDOWN_GRACE_MS = 20_000;
const FAST_MS = 5_000;

test('a consumer and a subscription close at once while Redis is killed (their loops do not wait for the call in flight)', async (t) => {
  t.timeout(60_000);
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const transport = await createRedisTransport({
    url: redis.url,
    prefix: 'close-killed:',
    blockMs: 500,
    shutdownGraceMs: SHUTDOWN_GRACE_MS,
    reconnect: { initialMs: 100, maxMs: 500 },
  });
  t.teardown(() => transport.close());
  const handled: string[] = [];
  const consumer = await transport.consume('jobs', async (command) => {
    handled.push(command.commandId);
    return 'ok';
  });
  const subscription = await transport.subscribe('news', () => undefined);
  // The consumer works before the outage.
  t.is(await transport.request('jobs', newCommand('job.run', 'i-1', {}), { timeoutMs: 5_000 }), 'ok');

  await redis.kill();
  await sleep(1_500); // every connection is reconnecting now, its blocking read queued for the next connection

  const began = Date.now();
  const outcome = await settledWithin(Promise.all([consumer.close(), subscription.close()]).then(() => 'closed' as const), FAST_MS + 30_000, 'still closing' as const);
  const consumersMs = Date.now() - began;
  t.is(outcome, 'closed');
  t.true(consumersMs < FAST_MS, `the consumer and the subscription closed in ${consumersMs} ms`);

  const closingAt = Date.now();
  await transport.close();
  const transportMs = Date.now() - closingAt;
  t.log(`consumer + subscription closed in ${consumersMs} ms, the transport in ${transportMs} ms`);
  t.true(transportMs < FAST_MS, `the transport closed in ${transportMs} ms`);
});
