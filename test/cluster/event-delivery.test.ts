/**
 * Redis (append-only file) is down for 8 s while instances change status,
 * with `GET /api/events` open. The control plane's lease lapses meanwhile
 * (4 s lease), so it drops its actors and re-gains them when Redis is back.
 * Afterwards: every change in `recent-changes` reached the SSE client exactly
 * once, in sequence order (ids strictly increasing), and nothing answered
 * 2xx during the outage was rolled back — its change is in the log and in
 * the instance's history.
 */
import type { InstanceStatusView } from '../../src/api/instance-view.js';
import type { StatusChange } from '../../src/store/instance-store.js';
import { eventually, outputs, ports, redisServer, sleep, startControlPlane, startWorker, waitForWorker, type ApiResponse } from './_harness.js';
import { testWithRedis } from '../helpers/engines.js';
import { listenSse, statusChanges } from '../helpers/sse-client.js';

const { test } = testWithRedis('cluster mode');

const OUTAGE_MS = 8_000;
const settledStatuses = new Set(['Pending', 'Running', 'Stopped']);

test('Redis restarted for 8 s while instances change: every recorded change reaches the SSE stream once, in order; nothing answered 2xx is rolled back', async (t) => {
  t.timeout(240_000);
  const redis = await redisServer(t, { appendonly: true });
  const controlPlane = await startControlPlane(t, redis.url, { replicaId: 'cp-events', leaseMs: 4_000, startTimeoutMs: 8_000, replyTimeoutMs: 3_000, acceptStatusReports: true });
  const worker = await startWorker(t, redis.url, { workerId: 'events', ports: ports(20) });
  await waitForWorker(controlPlane, worker);
  const { call } = controlPlane;
  const all = [controlPlane.process, worker.process];

  const sse = await listenSse(`${controlPlane.base}/api/events`);
  t.teardown(sse.close);
  t.is(sse.response.status, 200);

  const names = ['ev-a', 'ev-b', 'ev-c', 'ev-d', 'ev-e'];
  for (const name of names) t.is((await call('POST', '/api/server/instances', { name })).status, 201);
  for (const name of ['ev-a', 'ev-b', 'ev-c']) {
    const started = await call('POST', `/api/server/instances/${name}/start`);
    t.is(started.status, 200, `${JSON.stringify(started.body)}\n${outputs(...all)}`);
  }

  // ---- the outage: reports (answered 202 while the lease still holds), starts and stops
  await redis.kill();
  const downAt = Date.now();
  const answered: { what: string; name: string; response: ApiResponse; message?: string }[] = [];
  for (const name of ['ev-a', 'ev-b']) {
    const message = `probe says ${name} is down (${downAt})`;
    const response = await call('POST', '/api/status/updates', { instanceId: name, status: 'Failed', source: 'outage-probe', message }, 10_000);
    answered.push({ what: 'report', name, response, message });
  }
  const requests: [string, string][] = [
    ['stop', 'ev-c'],
    ['start', 'ev-d'],
    ['start', 'ev-e'],
    ['stop', 'ev-d'],
  ];
  for (const [op, name] of requests) {
    answered.push({ what: op, name, response: await call('POST', `/api/server/instances/${name}/${op}`, undefined, 30_000) });
    await sleep(500);
  }
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
  await redis.restart();
  t.log(`Redis was down ${Date.now() - downAt} ms`);
  for (const { what, name, response } of answered) t.log(`during the outage: ${what} ${name} → ${response.status} in ${response.ms} ms`);
  const reports = answered.filter(({ what, response }) => what === 'report' && response.status === 202);
  t.true(reports.length > 0, `at least one report was answered 202 while Redis was down: ${answered.map((a) => a.response.status).join(', ')}\n${outputs(...all)}`);

  // ---- afterwards: the fleet settles and the stream catches up
  let recorded: StatusChange[] = [];
  let quietSince = Date.now();
  let lastNewest = -1;
  await eventually(
    async () => {
      const list = await call('GET', '/api/server/instances', undefined, 10_000);
      if (list.status !== 200) return false;
      // Settled: nothing more will happen by itself (a stop that failed while Redis was down stays Failed, desired Stopped).
      const views = list.body as unknown as { status: string; desiredState: string }[];
      const statuses = views.map((view) => (view.status === 'Failed' && view.desiredState !== 'Running' ? 'Stopped' : view.status));
      const changes = await call('GET', '/api/status/recent-changes?limit=1000', undefined, 10_000);
      if (changes.status !== 200) return false;
      recorded = changes.body as unknown as StatusChange[];
      const newest = recorded.at(-1)?.sequence ?? 0;
      if (newest !== lastNewest) {
        lastNewest = newest;
        quietSince = Date.now();
      }
      return statuses.every((status) => settledStatuses.has(status)) && Date.now() - quietSince > 3_000;
    },
    120_000,
    'the instances settled and no new change for 3 s',
    all,
    250,
  );
  // Delivery follows the log within a read or two; a change that never arrives fails the comparison below.
  const newest = String(recorded.at(-1)?.sequence);
  await eventually(() => sse.frames.some((frame) => frame.id === newest), 15_000, 'the stream caught up', all).catch((error: unknown) => t.log(String(error).split('\n')[0]));

  for (const line of controlPlane.process.output().split('\n')) {
    if (/lease|restored from|not recorded/.test(line)) t.log(line.replace(/^\S+ /, ''));
  }

  // Every recorded change reached the stream exactly once, in order.
  const describe = (change: { instanceId?: unknown; from?: unknown; to?: unknown }) => `${String(change.instanceId)}:${String(change.from)}→${String(change.to)}`;
  const streamedChanges = statusChanges(sse.frames).map((frame) => describe(frame.data ?? {}));
  t.log(`${recorded.length} changes recorded, ${streamedChanges.length} streamed`);
  t.deepEqual(streamedChanges, recorded.map(describe), 'the stream carries the recorded changes, in order, once each');
  const streamedIds = statusChanges(sse.frames).map((frame) => frame.id);
  t.deepEqual(streamedIds, recorded.map((change) => String(change.sequence)), 'the stream carries exactly the change log');
  t.true(
    streamedIds.every((id, n) => n === 0 || Number(id) > Number(streamedIds[n - 1])),
    `ids strictly increase: ${streamedIds.join(', ')}`,
  );
  t.false(sse.frames.some((frame) => frame.event === 'reset' || frame.event === 'overflow'));
  for (const [n, frame] of statusChanges(sse.frames).entries()) {
    const change = recorded[n]!;
    t.like(frame.data, { instanceId: change.instanceId, from: change.from, to: change.to }, `event ${frame.id}`);
  }

  // Nothing answered 2xx during the outage was rolled back.
  for (const { name, message } of reports) {
    t.true(
      recorded.some((change) => change.instanceId === name && change.to === 'Failed' && change.reason?.includes(message!)),
      `${name}: the change reported during the outage is in the log\n${JSON.stringify(recorded.filter((change) => change.instanceId === name))}\n${outputs(...all)}`,
    );
    const status = await call('GET', `/api/status/${name}/status`);
    const history = (status.body as unknown as InstanceStatusView).history ?? [];
    t.true(
      history.some((entry) => JSON.stringify(entry).includes('outage-probe')),
      `${name}: the reported failure is in the instance's history: ${JSON.stringify(history)}`,
    );
  }
  for (const { what, name, response } of answered) {
    if (what === 'report' || response.status >= 300) continue;
    const status = String(response.body.status);
    t.true(
      recorded.some((change) => change.instanceId === name && change.to === status),
      `${what} ${name} answered ${response.status} (${status}) during the outage: that change is in the log`,
    );
  }
});
