/**
 * Idempotency-Key across control-plane replicas: a client's retry may reach
 * another replica, so the answers live in Redis. Racing creates with one key,
 * spread over two replicas, make one instance and get one answer.
 */
import { randomUUID } from 'node:crypto';
import { startClusterControlPlane } from '../../src/cluster.js';
import { RedisIdempotencyStore } from '../../src/store/redis-idempotency-store.js';
import { testWithRedis } from '../helpers/engines.js';
import { redisServer } from './_harness.js';

const { test } = testWithRedis('cluster mode');

test('racing creates with one key on two replicas: one instance, every answer the first one; another body is 422 on either', async (t) => {
  const redis = await redisServer(t);
  const connection = { url: redis.url, prefix: `idem-${randomUUID().slice(0, 8)}:` };
  const replicas = await Promise.all(
    ['cp-a', 'cp-b'].map(async (replicaId) => {
      const controlPlane = await startClusterControlPlane({ redis: connection, replicaId, leaseMs: 2_000, shardCount: 4, reconcileIntervalMs: null });
      t.teardown(() => controlPlane.close());
      const listener = await controlPlane.listen({ port: 0, host: '127.0.0.1' });
      return { controlPlane, url: listener.url.replace(/\/$/, '') };
    }),
  );
  const create = (index: number, body: unknown) =>
    fetch(`${replicas[index % 2]!.url}/api/server/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'cluster-key' },
      body: JSON.stringify(body),
    }).then(async (response) => ({ status: response.status, replayed: response.headers.get('idempotent-replayed'), body: (await response.json()) as unknown }));
  const answers = await Promise.all(Array.from({ length: 8 }, (_, index) => create(index, { name: 'shared' })));
  for (const answer of answers) {
    t.is(answer.status, 201, JSON.stringify(answer.body));
    t.deepEqual(answer.body, answers[0]!.body);
  }
  t.is(answers.filter((answer) => answer.replayed === 'true').length, 7);
  for (const { controlPlane } of replicas) t.deepEqual((await controlPlane.list()).map((view) => view.id), ['shared']);
  for (const index of [0, 1]) {
    const other = await create(index, { name: 'other' });
    t.is(other.status, 422);
  }
});

test('If-Match across replicas: racing PATCHes for one generation, sent to both replicas, make one change', async (t) => {
  const redis = await redisServer(t);
  const connection = { url: redis.url, prefix: `etag-${randomUUID().slice(0, 8)}:` };
  const urls = await Promise.all(
    ['cp-a', 'cp-b'].map(async (replicaId) => {
      const controlPlane = await startClusterControlPlane({ redis: connection, replicaId, leaseMs: 2_000, shardCount: 4, reconcileIntervalMs: null });
      t.teardown(() => controlPlane.close());
      return (await controlPlane.listen({ port: 0, host: '127.0.0.1' })).url.replace(/\/$/, '');
    }),
  );
  const created = await fetch(`${urls[0]}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cfg', configuration: { sources: [{ kind: 'mock', id: 's' }] } }) });
  t.is(created.status, 201);
  const read = await fetch(`${urls[1]}/api/configuration/instances/cfg`);
  t.is(read.headers.get('etag'), '"g1"');
  const statuses = await Promise.all(
    Array.from({ length: 6 }, (_, index) =>
      fetch(`${urls[index % 2]}/api/configuration/instances/cfg`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json', 'if-match': '"g1"' },
        body: JSON.stringify([{ op: 'replace', path: '/sources/0/id', value: `r${index}` }]),
      }).then((response) => response.status),
    ),
  );
  t.deepEqual(statuses.sort(), [200, 412, 412, 412, 412, 412]);
  const after = (await (await fetch(`${urls[1]}/api/configuration/instances/cfg`)).json()) as { generation: number };
  t.is(after.generation, 2);
});

test('the Redis store: a lapsed claim neither completes nor releases over the claim that took the key', async (t) => {
  const redis = await redisServer(t);
  const store = await RedisIdempotencyStore.open({ url: redis.url, prefix: 'idem-store:' });
  t.teardown(() => store.close());
  const response = { status: 201, headers: { location: '/x' }, body: { id: 'x' } };
  const first = await store.claim('k', 'f', 100);
  t.is(first.state, 'claimed');
  t.like(await store.claim('k', 'f', 100), { state: 'in-flight', fingerprint: 'f' });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = await store.claim('k', 'f', 10_000);
  t.is(second.state, 'claimed', 'the first claim lapsed');
  await store.complete('k', first.state === 'claimed' ? first.token : '', 'f', response, 10_000);
  await store.release('k', first.state === 'claimed' ? first.token : '');
  t.is((await store.claim('k', 'f', 10_000)).state, 'in-flight', "the lapsed claim changed nothing");
  await store.complete('k', second.state === 'claimed' ? second.token : '', 'f', response, 10_000);
  t.like(await store.claim('k', 'g', 10_000), { state: 'done', fingerprint: 'f', response });
  await store.release('k', second.state === 'claimed' ? second.token : '');
  t.is((await store.claim('k', 'f', 10_000)).state, 'done', 'an answer is not released');
});
