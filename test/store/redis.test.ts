import type { ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { DraasError } from '../../src/errors.js';
import { RedisInstanceStore, type RedisInstanceStoreOptions } from '../../src/store/redis-store.js';
import { RedisStoreKeys } from '../../src/redis/keys.js';
import { testWithRedis } from '../helpers/engines.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { instanceStoreContract } from './contract.js';
import { makeChange, makeRecord, makeSnapshot, runningInstanceSnapshot } from './fixtures.js';

const { test, available } = testWithRedis('redis store');

let shared: RedisServer | undefined;

test.before(async () => {
  shared = await startRedisServer();
});

test.after.always(async () => {
  await shared?.stop();
});

function sharedUrl(): string {
  if (!shared) throw new Error('the shared redis-server did not start');
  return shared.url;
}

/** Opens a store under a fresh prefix; its log lines are collected; closed at teardown. */
async function openStore(t: ExecutionContext, options: Partial<RedisInstanceStoreOptions> = {}) {
  const warnings: string[] = [];
  const store = await RedisInstanceStore.open({
    url: sharedUrl(),
    prefix: `test-${randomUUID().slice(0, 8)}:`,
    log: (message) => warnings.push(message),
    ...options,
  });
  t.teardown(() => store.close());
  return { store, warnings };
}

/** A plain client for looking at (and planting) raw keys. */
function rawClient(t: ExecutionContext, url: string): Redis {
  const client = new Redis(url, { lazyConnect: false });
  t.teardown(() => client.disconnect());
  return client;
}

if (available) {
  instanceStoreContract('redis', async (t, options = {}) => (await openStore(t, options)).store);
}

test('redis: the key layout', async (t) => {
  const { store } = await openStore(t);
  const keys = new RedisStoreKeys(store.keys.prefix);
  await store.insert(makeRecord('laid-out'));
  await store.saveSnapshot('laid-out', makeSnapshot(1));
  const appended = await store.appendChange(makeChange('laid-out', 0));
  const raw = rawClient(t, sharedUrl());
  t.deepEqual((await raw.keys(`${store.keys.prefix}*`)).sort(), [
    keys.changeSequence(),
    keys.changes(),
    keys.records(),
    keys.snapshots(),
  ]);
  t.is(keys.records(), `${store.keys.prefix}store:records`);
  t.deepEqual(JSON.parse((await raw.hget(keys.records(), 'laid-out')) ?? ''), makeRecord('laid-out'));
  t.deepEqual(JSON.parse((await raw.hget(keys.snapshots(), 'laid-out')) ?? ''), makeSnapshot(1));
  t.is(await raw.type(keys.changes()), 'stream');
  t.is(Number(await raw.get(keys.changeSequence())), appended.sequence);
  const [entry] = await raw.xrange(keys.changes(), '-', '+');
  t.deepEqual(entry?.[1], ['seq', String(appended.sequence), 'change', JSON.stringify(makeChange('laid-out', 0))]);
});

test('redis: malformed values are skipped with a log line', async (t) => {
  const { store, warnings } = await openStore(t);
  const raw = rawClient(t, sharedUrl());
  await store.insert(makeRecord('good'));
  await store.insert(makeRecord('bad-snapshot'));
  await raw.hset(store.keys.records(), 'truncated', JSON.stringify(makeRecord('truncated')).slice(0, 40));
  await raw.hset(store.keys.records(), 'mismatch', JSON.stringify(makeRecord('other')));
  await raw.hset(store.keys.snapshots(), 'bad-snapshot', '{"machineVersion":1,');
  await raw.hset(store.keys.snapshots(), 'good', JSON.stringify({ savedAt: 'x', snapshot: {} }));
  await raw.xadd(store.keys.changes(), '*', 'seq', 'x', 'change', '{');
  await store.appendChange(makeChange('good', 1));

  t.deepEqual(await store.loadAll(), [{ record: makeRecord('bad-snapshot') }, { record: makeRecord('good') }]);
  t.is(await store.get('truncated'), undefined);
  t.is(await store.loadSnapshot('bad-snapshot'), undefined);
  t.deepEqual(
    (await store.recentChanges({ limit: 10 })).map((change) => change.instanceId),
    ['good'],
  );
  for (const pattern of [/"truncated": skipped, not JSON/, /"mismatch": skipped/, /"bad-snapshot": skipped, not JSON/, /"good": skipped, not a persisted/, /skipped: /]) {
    t.true(warnings.some((warning) => pattern.test(warning)), `a warning matching ${pattern}`);
  }
});

test('redis: no calls after close', async (t) => {
  const { store } = await openStore(t);
  const pending = store.insert(makeRecord('last'));
  await store.close();
  t.true(await pending, 'a call issued before close completes');
  await t.throwsAsync(store.update(makeRecord('last')), { message: /closed/ });
  await t.throwsAsync(store.get('last'), { message: /closed/ });
});

test('redis: everything survives a Redis restart (append-only file)', async (t) => {
  const server = await startRedisServer({ appendonly: true });
  t.teardown(() => server.stop());
  const prefix = 'durable:';
  const first = await RedisInstanceStore.open({ url: server.url, prefix, log: () => undefined });
  t.teardown(() => first.close());
  for (const id of ['alpha', 'bravo', 'charlie']) await first.insert(makeRecord(id));
  await first.update(makeRecord('bravo', { generation: 2 }));
  await first.saveSnapshot('alpha', makeSnapshot(1));
  await first.saveSnapshot('bravo', makeSnapshot(2));
  const changes = [];
  for (let n = 0; n < 5; n++) changes.push(await first.appendChange(makeChange('alpha', n)));
  const before = await first.loadAll();

  await server.kill();
  await first.close();
  await server.restart();

  const second = await RedisInstanceStore.open({ url: server.url, prefix, log: () => undefined });
  t.teardown(() => second.close());
  t.deepEqual(await second.loadAll(), before);
  t.deepEqual(before, [
    { record: makeRecord('alpha'), snapshot: makeSnapshot(1) },
    { record: makeRecord('bravo', { generation: 2 }), snapshot: makeSnapshot(2) },
    { record: makeRecord('charlie') },
  ]);
  t.deepEqual(await second.recentChanges({ limit: 100 }), changes);
  const next = await second.appendChange(makeChange('alpha', 5));
  t.is(next.sequence, (changes.at(-1)?.sequence ?? Infinity) + 1, 'the sequence continues');
});

test('redis: calls fail fast with 503 while Redis is down, and work again when it is back', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const warnings: string[] = [];
  const store = await RedisInstanceStore.open({ url: server.url, log: (message) => warnings.push(message) });
  t.teardown(() => store.close());
  await store.insert(makeRecord('outage'));

  await server.kill();
  for (const call of [() => store.get('outage'), () => store.update(makeRecord('outage')), () => store.appendChange(makeChange('outage', 1))]) {
    const started = performance.now();
    const error = await t.throwsAsync<DraasError>(call(), { instanceOf: DraasError });
    const elapsed = performance.now() - started;
    t.is(error?.code, 'unavailable');
    t.is(error?.status, 503);
    t.true(elapsed < 2_000, `failed within ${elapsed.toFixed(0)} ms`);
    t.log(`${error?.message} (after ${elapsed.toFixed(0)} ms)`);
  }

  await server.restart();
  const deadline = Date.now() + 10_000;
  let back = false;
  while (!back && Date.now() < deadline) {
    back = await store.get('outage').then(
      () => true,
      () => false,
    );
    if (!back) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.true(back, 'the store reconnects on its own');
  t.true(warnings.some((warning) => /connection lost/.test(warning)));
});

test('redis: open fails with 503 when Redis is unreachable', async (t) => {
  const server = await startRedisServer();
  const url = server.url;
  await server.stop();
  const started = performance.now();
  const error = await t.throwsAsync<DraasError>(
    RedisInstanceStore.open({ url, connectTimeoutMs: 500, log: () => undefined }),
    { instanceOf: DraasError },
  );
  t.is(error?.code, 'unavailable');
  t.true(performance.now() - started < 2_000);
});

test.serial('redis: loadAll of 10,000 instances', async (t) => {
  const { store, warnings } = await openStore(t);
  const count = 10_000;
  const template = await runningInstanceSnapshot('template');
  let started = performance.now();
  const writes: Promise<unknown>[] = [];
  for (let n = 0; n < count; n++) {
    const id = `instance-${String(n).padStart(5, '0')}`;
    writes.push(store.insert(makeRecord(id)));
    writes.push(store.saveSnapshot(id, { ...template, savedAt: new Date(n).toISOString() }));
  }
  await Promise.all(writes);
  const writeMs = performance.now() - started;
  started = performance.now();
  const all = await store.loadAll();
  const loadMs = performance.now() - started;
  t.log(
    `${count} records + snapshots (${JSON.stringify(template).length} bytes each): written in ${writeMs.toFixed(0)} ms (pipelined); ` +
      `loadAll ${loadMs.toFixed(0)} ms`,
  );
  t.is(all.length, count);
  t.true(all.every((entry) => entry.snapshot !== undefined));
  t.is(all[0]?.record.id, 'instance-00000');
  t.deepEqual(warnings, []);
});

test('redis: a watcher hears of appends made by another process sharing the store, through one follower connection that runs only while watched', async (t) => {
  const { store: mine } = await openStore(t);
  const other = await RedisInstanceStore.open({ url: sharedUrl(), prefix: mine.keys.prefix, log: () => undefined });
  t.teardown(() => other.close());
  const raw = rawClient(t, sharedUrl());
  const followers = async () => String(await raw.client('LIST')).split('\n').filter((line) => line.includes(`name=${mine.keys.prefix}store-follower`)).length;
  t.is(await followers(), 0, 'no follower while nobody watches');

  let wakes = 0;
  const unwatchOne = mine.watchChanges(() => (wakes += 1));
  const unwatchTwo = mine.watchChanges(() => undefined);
  // The follower's first read starts from the stream's end: wait until it blocks before appending.
  const deadline = Date.now() + 5_000;
  while ((await followers()) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(await followers(), 1, 'one follower connection for both watchers');
  await new Promise((resolve) => setTimeout(resolve, 100));

  await other.appendChange(makeChange('elsewhere', 0));
  const heard = Date.now() + 5_000;
  while (wakes === 0 && Date.now() < heard) await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(wakes >= 1, 'woken by the other store’s append');

  unwatchOne();
  t.is(await followers(), 1, 'still followed while one watcher is left');
  unwatchTwo();
  const gone = Date.now() + 5_000;
  while ((await followers()) > 0 && Date.now() < gone) await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(await followers(), 0, 'the follower stops with the last watcher');
});
