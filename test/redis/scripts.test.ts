/**
 * Scripts go by their SHA1 once a connection has sent their body, keep their
 * order on the connection, and survive a flushed script cache and a restart.
 */
import { Redis } from 'ioredis';
import { commandConnection, connectWithin, quitConnection, type ConnectionSettings } from '../../src/redis/connection.js';
import { evalScript } from '../../src/redis/scripts.js';
import { testWithRedis } from '../helpers/engines.js';
import { startRedisServer } from '../helpers/redis-server.js';

const { test } = testWithRedis('redis scripts');

const appendScript = `redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])`;

async function calls(admin: Redis): Promise<{ eval: number; evalsha: number }> {
  const stats = await admin.info('commandstats');
  const count = (name: string) => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  return { eval: count('eval'), evalsha: count('evalsha') };
}

test('the body goes once per connection, then the SHA1; a flushed cache and a restart are recovered from, in order', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const settings: ConnectionSettings = { url: redis.url, connectTimeoutMs: 2_000, reconnect: { initialMs: 50, maxMs: 200 } };
  const connection = commandConnection(settings, 'test-scripts', 'store');
  const admin = new Redis(redis.url);
  admin.on('error', () => undefined); // refused while Redis restarts below
  t.teardown(async () => {
    await quitConnection(connection);
    admin.disconnect();
  });
  await connectWithin(connection, redis.url, 5_000);

  t.is(await evalScript(connection, appendScript, 1, 'list', 'a'), 1, 'the first use sends the body');
  // Issued in one tick (one auto-pipelined write): they run in the order issued.
  const lengths = await Promise.all(['b', 'c', 'd'].map((value) => evalScript(connection, appendScript, 1, 'list', value)));
  t.deepEqual(lengths, [2, 3, 4]);
  t.deepEqual(await admin.lrange('list', 0, -1), ['a', 'b', 'c', 'd']);
  const first = await calls(admin);
  t.is(first.eval, 1, 'the body went once');
  t.is(first.evalsha, 3);

  await admin.script('FLUSH');
  t.is(await evalScript(connection, appendScript, 1, 'list', 'e'), 5, 'a NOSCRIPT is answered by sending the body again');
  t.is((await calls(admin)).eval, 2);
  t.deepEqual(await admin.lrange('list', 0, -1), ['a', 'b', 'c', 'd', 'e'], 'each ran once');

  await redis.restart();
  for (const until = Date.now() + 10_000; connection.status !== 'ready' && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(await evalScript(connection, appendScript, 1, 'fresh', 'x'), 1, 'after a restart the new connection sends the body first');
  t.deepEqual(await calls(admin), { eval: 1, evalsha: 0 }, 'no NOSCRIPT: the body went first (counts start over with Redis)');
});
