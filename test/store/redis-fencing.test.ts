/**
 * Leases and fenced writes against a real Redis: a writer whose lease was
 * taken over is refused on every write, atomically, and changes nothing; the
 * new holder writes. Tokens only grow.
 */
import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { StaleOwnerError } from '../../src/errors.js';
import { RedisLeases } from '../../src/store/redis-leases.js';
import { RedisInstanceStore } from '../../src/store/redis-store.js';
import { testWithRedis } from '../helpers/engines.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { makeChange, makeRecord, makeSnapshot } from './fixtures.js';

const { test } = testWithRedis('redis leases');

let server: RedisServer | undefined;
test.before(async () => {
  server = await startRedisServer();
});
test.after.always(async () => {
  await server?.stop();
});

async function open(t: ExecutionContext) {
  const url = server!.url;
  const prefix = `fence-${randomUUID().slice(0, 8)}:`;
  const store = await RedisInstanceStore.open({ url, prefix, log: () => undefined });
  const leases = await RedisLeases.open({ url, prefix });
  t.teardown(async () => {
    await store.close();
    await leases.close();
  });
  return { store, leases };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a lease is held by one owner at a time; it expires; the next holder gets a larger token', async (t) => {
  const { leases } = await open(t);
  const first = await leases.acquire('shard-1', 'a', 200);
  t.is(typeof first, 'number');
  t.is(await leases.acquire('shard-1', 'b', 200), undefined, 'held by a');
  t.true(await leases.renew('shard-1', 'a', first!, 200));
  t.false(await leases.renew('shard-1', 'b', first!, 200), 'only the holder renews');
  t.deepEqual(await leases.owners(['shard-1', 'shard-2']), ['a', undefined]);
  await sleep(300);
  t.deepEqual(await leases.owners(['shard-1']), [undefined], 'expired');
  const second = await leases.acquire('shard-1', 'b', 1_000);
  t.true(second! > first!);
  t.false(await leases.renew('shard-1', 'a', first!, 1_000), 'a lost it');
  await leases.release('shard-1', 'a', first!);
  t.deepEqual(await leases.owners(['shard-1']), ['b'], 'a stale release does nothing');
  // The same owner (a restarted replica with a stable id) takes its lease back at once, with a new token.
  const third = await leases.acquire('shard-1', 'b', 1_000);
  t.true(third! > second!);
  t.false(await leases.renew('shard-1', 'b', second!, 1_000), 'the older incarnation is fenced off');
  await leases.release('shard-1', 'b', third!);
  t.deepEqual(await leases.owners(['shard-1']), [undefined]);
});

test('every write with a stale token is refused and changes nothing; the current holder writes', async (t) => {
  const { store, leases } = await open(t);
  const old = { lease: 'shard-3', token: (await leases.acquire('shard-3', 'a', 150))! };
  t.true(await store.insert(makeRecord('x'), { fence: old }));
  await store.saveSnapshot('x', makeSnapshot(1), { fence: old });
  await sleep(250);
  const current = { lease: 'shard-3', token: (await leases.acquire('shard-3', 'b', 10_000))! };

  const stale = { fence: old };
  await t.throwsAsync(store.update(makeRecord('x', { generation: 9 }), stale), { instanceOf: StaleOwnerError, message: /stale/ });
  await t.throwsAsync(store.saveSnapshot('x', makeSnapshot(9), stale), { instanceOf: StaleOwnerError });
  await t.throwsAsync(store.delete('x', stale), { instanceOf: StaleOwnerError });
  await t.throwsAsync(store.insert(makeRecord('y'), stale), { instanceOf: StaleOwnerError });
  await t.throwsAsync(store.appendChange(makeChange('x', 1), stale), { instanceOf: StaleOwnerError });
  const error = await t.throwsAsync(store.update(makeRecord('x'), stale));
  t.is((error as StaleOwnerError).code, 'not-owner');
  t.is((error as StaleOwnerError).status, 503);

  t.is((await store.get('x'))?.generation, 1);
  t.deepEqual((await store.loadSnapshot('x'))?.snapshot, makeSnapshot(1).snapshot);
  t.is(await store.get('y'), undefined);
  t.deepEqual(await store.recentChanges({ limit: 10 }), []);

  await store.update(makeRecord('x', { generation: 2 }), { fence: current });
  await store.saveSnapshot('x', makeSnapshot(2), { fence: current });
  t.is((await store.get('x'))?.generation, 2);
  t.deepEqual((await store.loadSnapshot('x'))?.snapshot, makeSnapshot(2).snapshot);
  // A token no lease ever had (what a replica that never held the shard sends) is refused too.
  await t.throwsAsync(store.update(makeRecord('x'), { fence: { lease: 'shard-3', token: 0 } }), { instanceOf: StaleOwnerError });
  // Unfenced writes (embedded mode, one writer) are not checked.
  await store.update(makeRecord('x', { generation: 3 }));
  t.is((await store.get('x'))?.generation, 3);
});

test('replicas are counted while their heartbeat is fresh (on Redis\'s clock); a lease names its holder and whether it lives', async (t) => {
  const { leases } = await open(t);
  t.is(await leases.heartbeat('a', 60_000), 1);
  t.is(await leases.heartbeat('b', 200), 2);
  t.deepEqual((await leases.liveReplicas()).sort(), ['a', 'b']);
  const token = await leases.acquire('shard-9', 'b', 60_000);
  t.like(await leases.holder('shard-9'), { owner: 'b', alive: true });
  await sleep(400);
  t.deepEqual(await leases.liveReplicas(), ['a'], 'b expired');
  const dead = await leases.holder('shard-9');
  t.like(dead, { owner: 'b', alive: false }, 'its lease outlives its heartbeat');
  t.true(dead!.expiresInMs > 50_000 && dead!.expiresInMs <= 60_000);
  t.is(await leases.heartbeat('a', 60_000), 1);
  await leases.withdraw('a');
  t.is(await leases.heartbeat('c', 60_000), 1);
  await leases.release('shard-9', 'b', token!);
  t.is(await leases.holder('shard-9'), undefined, 'a free lease has no holder');
});
