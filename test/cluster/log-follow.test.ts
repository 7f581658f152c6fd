/**
 * Following a log in cluster mode: two replicas on Redis and one worker; the
 * follow goes to the replica that does not own the instance, so every poll
 * is forwarded to the owner and from there to the worker.
 */
import { shardOf } from '../../src/actors/ownership.js';
import { eventually, leaseTable, outputs, ports, redisServer, startControlPlane, startWorker, waitForWorker } from './_harness.js';
import { expectEveryHeartbeatOnce, followLog } from '../helpers/follow-stream.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

const SHARDS = 16;

test('a follow through the replica that does not own the instance streams every new line once, in order, until delete', async (t) => {
  t.timeout(120_000);
  const redis = await redisServer(t);
  const leases = leaseTable(t, redis.url, SHARDS);
  const owners = async () => (await leases()).map((lease) => lease.owner);
  const a = await startControlPlane(t, redis.url, { replicaId: 'cp-a', leaseMs: 2_000 });
  const b = await startControlPlane(t, redis.url, { replicaId: 'cp-b', leaseMs: 2_000 });
  const worker = await startWorker(t, redis.url, { workerId: 'w', ports: ports(10) });
  await waitForWorker(a, worker);
  const all = [a.process, b.process, worker.process];
  await eventually(async () => (await owners()).filter((owner) => owner === 'cp-b').length === 8, 20_000, 'the shards split 8/8', all);

  const shardOwners = await owners();
  const name = Array.from({ length: 64 }, (_, i) => `f-${i}`).find((candidate) => shardOwners[shardOf(candidate, SHARDS)] === 'cp-b')!;
  t.is((await a.call('POST', '/api/server/instances', { name, environment: { DRASI_DOUBLE_LOG_INTERVAL_MS: '50', DRASI_DOUBLE_ECHO_LINE: 'same' } })).status, 201);
  const started = await a.call('POST', `/api/server/instances/${name}/start`);
  t.is(started.status, 200, outputs(...all));

  const log = await followLog(`${a.base}/api/server/instances/${name}/logs?follow=true&tail=1`);
  t.teardown(() => log.disconnect());
  t.is(log.status, 200);
  await expectEveryHeartbeatOnce(t, log, 8, 'same');

  t.is((await b.call('DELETE', `/api/server/instances/${name}`)).status, 204);
  await log.ended();
  t.is(log.lines.at(-1), `— instance "${name}" was deleted —`);
});
