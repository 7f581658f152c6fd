/**
 * Two control-plane replicas on one Redis, one worker. Each owns half of the
 * lease shards; either answers for any instance (forwarding to the owner).
 * One is SIGKILLed: the survivor owns every shard within the lease time (plus
 * one renewal round) and answers lifecycle requests for the instances it
 * took over, whose servers kept running.
 */
import type { InstanceView } from '../../src/api/instance-view.js';
import { shardOf, type OwnershipView } from '../../src/actors/ownership.js';
import { eventually, leaseTable, mapLimit, outputs, ports, redisServer, startControlPlane, startWorker, waitForWorker } from './_harness.js';
import { isAlive } from '../helpers/processes.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

const LEASE_MS = 2_000;
const SHARDS = 16;

test('two replicas split the instances; one is SIGKILLed and the survivor takes over its instances within the lease time', async (t) => {
  t.timeout(180_000);
  const redis = await redisServer(t);
  const leases = leaseTable(t, redis.url, SHARDS);

  const a = await startControlPlane(t, redis.url, { replicaId: 'cp-a', leaseMs: LEASE_MS });
  const b = await startControlPlane(t, redis.url, { replicaId: 'cp-b', leaseMs: LEASE_MS });
  const worker = await startWorker(t, redis.url, { workerId: 'w', ports: ports(30) });
  await waitForWorker(a, worker);
  const all = [a.process, b.process, worker.process];
  await eventually(
    async () => {
      const owners = (await leases()).map((lease) => lease.owner);
      return owners.filter((owner) => owner === 'cp-a').length === 8 && owners.filter((owner) => owner === 'cp-b').length === 8;
    },
    20_000,
    'the shards split 8/8',
    all,
  );

  const split = (await b.call('GET', '/api/replicas')).body as unknown as OwnershipView;
  t.like(split, { replicaId: 'cp-b', shardCount: SHARDS, unowned: [] });
  t.deepEqual(split.replicas.map((replica) => `${replica.replicaId}:${replica.shards.length}`), ['cp-a:8', 'cp-b:8']);

  // Created through one replica, started through the other: half of the calls are forwarded each way.
  const names = Array.from({ length: 16 }, (_, i) => `r-${i}`);
  const pids = new Map<string, string>();
  await mapLimit(names, 8, async (name) => {
    const created = await a.call('POST', '/api/server/instances', { name });
    if (created.status !== 201) throw new Error(`${name}: ${created.status} ${JSON.stringify(created.body)}\n${outputs(...all)}`);
    const started = await b.call('POST', `/api/server/instances/${name}/start`);
    if (started.status !== 200) throw new Error(`${name}: ${started.status} ${JSON.stringify(started.body)}\n${outputs(...all)}`);
    pids.set(name, started.body.runtime!.workloadId);
  });
  for (const name of names) {
    const viaA = (await a.call('GET', `/api/server/instances/${name}`)).body;
    const viaB = (await b.call('GET', `/api/server/instances/${name}`)).body;
    t.is(viaA.status, 'Running');
    t.is(viaA.runtime?.workloadId, viaB.runtime?.workloadId, `${name}: both replicas answer the same`);
  }
  const listedByA = (await a.call('GET', '/api/server/instances')).body as unknown as InstanceView[];
  t.deepEqual(listedByA.map((view) => `${view.id}:${view.status}`).sort(), names.map((name) => `${name}:Running`).sort());

  const before = await leases();
  const ownedByB = names.filter((name) => before[shardOf(name, SHARDS)]?.owner === 'cp-b');
  t.true(ownedByB.length > 0, 'cp-b owns some of the instances');
  t.log(`cp-b owns ${ownedByB.length} of ${names.length} instances`);

  b.process.kill('SIGKILL');
  const killedAt = Date.now();
  t.true(await b.process.exited(10_000));
  await eventually(async () => (await leases()).every((lease) => lease.owner === 'cp-a'), 4 * LEASE_MS, 'cp-a owns every shard', all, 25);
  const takeoverMs = Date.now() - killedAt;
  t.log(`every shard owned by cp-a ${takeoverMs} ms after the SIGKILL (lease ${LEASE_MS} ms, renewed every ${LEASE_MS / 4} ms)`);
  t.true(takeoverMs <= LEASE_MS + LEASE_MS / 4 + 500, `takeover took ${takeoverMs} ms`);
  const after = await leases();
  await eventually(
    async () => {
      const view = (await a.call('GET', '/api/replicas')).body as unknown as OwnershipView;
      return view.replicas.length === 1 && view.replicas[0]?.replicaId === 'cp-a' && view.replicas[0].shards.length === SHARDS;
    },
    2 * LEASE_MS,
    'GET /api/replicas shows cp-a alone, owning every shard',
    all,
  );
  for (const name of ownedByB) {
    const shard = shardOf(name, SHARDS);
    t.true(Number(after[shard]?.token) > Number(before[shard]?.token), `shard ${shard}: the new owner's token fences the old one`);
  }

  // The survivor answers for the instances it took over: they kept running, and they obey.
  for (const name of ownedByB) {
    const view = await a.call('GET', `/api/server/instances/${name}`);
    t.is(view.status, 200, outputs(...all));
    t.is(view.body.status, 'Running');
    t.is(view.body.runtime?.workloadId, pids.get(name), `${name} kept its server`);
  }
  const victim = ownedByB[0]!;
  const stopped = await a.call('POST', `/api/server/instances/${victim}/stop`);
  t.is(stopped.status, 200, `${JSON.stringify(stopped.body)}\n${outputs(...all)}`);
  t.is(stopped.body.status, 'Stopped');
  t.false(isAlive(Number(pids.get(victim))));
  const restarted = await a.call('POST', `/api/server/instances/${victim}/start`);
  t.is(restarted.status, 200);
  t.is(restarted.body.status, 'Running');
});
