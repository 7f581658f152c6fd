/** LeasedOwnership against a real Redis: the first round takes every shard; a shard that fails to load is handed back and taken again later; close releases. */
import { randomUUID } from 'node:crypto';
import { LeasedOwnership } from '../../src/actors/leased-ownership.js';
import { RedisLeases } from '../../src/store/redis-leases.js';
import { testWithRedis } from '../helpers/engines.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/processes.js';

const { test } = testWithRedis('leased ownership');

test('a shard whose instances could not be loaded is handed back and taken again; close releases every lease', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const leases = await RedisLeases.open({ url: redis.url, prefix: `own-${randomUUID().slice(0, 6)}:` });
  t.teardown(() => leases.close());
  const messages: string[] = [];
  const ownership = new LeasedOwnership({ leases, replicaId: 'r1', shardCount: 4, leaseMs: 400, log: (message) => messages.push(message) });
  let attempts = 0;
  const lost: number[][] = [];
  await ownership.start({
    gained: async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('store unreachable');
    },
    lost: async (shards) => {
      lost.push([...shards]);
    },
  });
  t.deepEqual(ownership.heldShards(), [], 'handed back after the failed load');
  t.deepEqual(lost, [[0, 1, 2, 3]]);
  t.true(messages.some((message) => /could not load shard\(s\) 0, 1, 2, 3: store unreachable/.test(message)));
  await waitFor(() => ownership.heldShards().length === 4, 5_000, 'taken again');
  t.true(ownership.owns('anything'));
  await ownership.close();
  t.deepEqual(await leases.owners(['shard-0', 'shard-1', 'shard-2', 'shard-3']), [undefined, undefined, undefined, undefined]);
  t.false(ownership.owns('anything'));
});
