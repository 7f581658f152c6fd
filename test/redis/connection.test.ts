/**
 * The connections of one process to one Redis reconnect together: after an
 * outage they do not sleep out their reconnect backoff once Redis is back.
 */
import anyTest from 'ava';
import { blockingConnection, commandConnection, connectWithin, quitConnection, redisAddress, type ConnectionSettings } from '../../src/redis/connection.js';
import { testWithRedis } from '../helpers/engines.js';
import { startRedisServer } from '../helpers/redis-server.js';

const { test } = testWithRedis('redis connections');

anyTest('redisAddress: host and port of redis:// and rediss:// URLs, 6379 by default; nothing for others', (t) => {
  t.deepEqual(redisAddress('redis://127.0.0.1:6390'), { host: '127.0.0.1', port: 6390 });
  t.deepEqual(redisAddress('rediss://user:secret@cache.example:6380/2'), { host: 'cache.example', port: 6380 });
  t.deepEqual(redisAddress('redis://redis'), { host: 'redis', port: 6379 });
  t.deepEqual(redisAddress('redis://[::1]:7000'), { host: '::1', port: 7000 });
  t.is(redisAddress('/tmp/redis.sock'), undefined);
  t.is(redisAddress('unix:///tmp/redis.sock'), undefined);
});

async function ready(connection: { status: string }, within: number): Promise<boolean> {
  for (const until = Date.now() + within; Date.now() < until; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (connection.status === 'ready') return true;
  }
  return connection.status === 'ready';
}

test('after an outage, connections whose backoff would keep them away for minutes are back as soon as Redis is', async (t) => {
  t.timeout(60_000);
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  // A backoff of five minutes: without reconnecting together, neither would try again within this test.
  const settings: ConnectionSettings = { url: redis.url, connectTimeoutMs: 2_000, reconnect: { initialMs: 300_000, maxMs: 300_000 } };
  const command = commandConnection(settings, 'test-command', 'store');
  const blocking = blockingConnection(settings, 'test-blocking', 'transport-blocking');
  t.teardown(async () => {
    await quitConnection(command);
    await quitConnection(blocking);
  });
  await connectWithin(command, redis.url, 5_000);
  await connectWithin(blocking, redis.url, 5_000);

  await redis.kill();
  t.true(await waitFor(() => command.status === 'reconnecting' && blocking.status === 'reconnecting', 10_000), `${command.status} ${blocking.status}`);
  await redis.restart();
  t.true(await ready(command, 20_000), `command connection: ${command.status}`);
  t.true(await ready(blocking, 20_000), `blocking connection: ${blocking.status}`);
  t.is(await command.ping(), 'PONG');
  t.is(await blocking.ping(), 'PONG');
});

test('a connection closed while it waited out its backoff stays closed when Redis returns', async (t) => {
  t.timeout(60_000);
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const settings: ConnectionSettings = { url: redis.url, connectTimeoutMs: 2_000, reconnect: { initialMs: 300_000, maxMs: 300_000 } };
  const closed = commandConnection(settings, 'test-closed', 'store');
  const open = commandConnection(settings, 'test-open', 'store');
  t.teardown(() => quitConnection(open));
  await connectWithin(closed, redis.url, 5_000);
  await connectWithin(open, redis.url, 5_000);
  await redis.kill();
  t.true(await waitFor(() => closed.status === 'reconnecting', 10_000), closed.status);
  closed.disconnect();
  await redis.restart();
  // The other connection's return wakes the ones still waiting; the closed one is not among them.
  t.true(await ready(open, 20_000), open.status);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.not(closed.status, 'ready', 'the closed connection was not reopened');
});

async function waitFor(check: () => boolean, within: number): Promise<boolean> {
  for (const until = Date.now() + within; Date.now() < until; await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (check()) return true;
  }
  return check();
}
