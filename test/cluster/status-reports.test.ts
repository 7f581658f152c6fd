/**
 * A status report sent to a replica that does not own the instance is
 * forwarded to the owner with the sender's address, and recorded there with
 * its source; a replica started without --accept-status-reports refuses it.
 */
import { shardOf } from '../../src/actors/ownership.js';
import { eventually, leaseTable, outputs, ports, redisServer, startControlPlane, startWorker, waitForWorker } from './_harness.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

const SHARDS = 16;

test('a report forwarded to the owning replica is recorded with its source and the sender address', async (t) => {
  t.timeout(120_000);
  const redis = await redisServer(t);
  const leases = leaseTable(t, redis.url, SHARDS);
  const a = await startControlPlane(t, redis.url, { replicaId: 'rep-a', leaseMs: 2_000, acceptStatusReports: true });
  const b = await startControlPlane(t, redis.url, { replicaId: 'rep-b', leaseMs: 2_000 });
  const worker = await startWorker(t, redis.url, { workerId: 'rep-w', ports: ports(10) });
  await waitForWorker(a, worker);
  const all = [a.process, b.process, worker.process];
  await eventually(async () => (await leases()).filter((lease) => lease.owner === 'rep-b').length === SHARDS / 2, 20_000, 'the shards split', all);

  // An instance rep-b owns, reported through rep-a: the call is forwarded.
  const owners = await leases();
  const name = Array.from({ length: 64 }, (_, i) => `rep-${i}`).find((candidate) => owners[shardOf(candidate, SHARDS)]?.owner === 'rep-b')!;
  t.is((await a.call('POST', '/api/server/instances', { name })).status, 201);
  const started = await a.call('POST', `/api/server/instances/${name}/start`);
  t.is(started.status, 200, `${JSON.stringify(started.body)}\n${outputs(...all)}`);

  const refused = await b.call('POST', '/api/status/updates', { instanceId: name, status: 'Failed', source: 'probe-b' });
  t.is(refused.status, 403, 'rep-b was not told to accept reports');
  const report = await a.call('POST', '/api/status/updates', { instanceId: name, status: 'Failed', source: 'probe-a', message: 'no data' });
  t.is(report.status, 202, `${JSON.stringify(report.body)}\n${outputs(...all)}`);
  const status = (await b.call('GET', `/api/status/${name}/status`)).body as unknown as { failure: { reportedBy?: unknown; reason: string } };
  t.deepEqual(status.failure.reportedBy, { source: 'probe-a', remoteAddress: '127.0.0.1' });
  t.is(status.failure.reason, 'probe-a from 127.0.0.1 reported Failed: no data');
});
