/**
 * A worker is SIGKILLed and started again on the same data dir: it re-adopts
 * the Drasi Servers that still run (same pids, none restarted, no duplicate),
 * and a server that died while the worker was down is reported Failed and
 * started again because its desired state is Running.
 */
import type { InstanceStatusView, InstanceView } from '../../src/api/instance-view.js';
import { countDoubles, eventually, outputs, ports, redisServer, startControlPlane, startWorker, waitForWorker } from './_harness.js';
import { isAlive } from '../helpers/processes.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

test('a restarted worker re-adopts live servers and reports the one that died meanwhile, which is restarted', async (t) => {
  t.timeout(120_000);
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: 15_000, replyTimeoutMs: 5_000 });
  const range = ports(20);
  const first = await startWorker(t, redis.url, { workerId: 'steady', ports: range });
  await waitForWorker(controlPlane, first);
  const { call } = controlPlane;
  const names = ['a', 'b', 'c', 'd', 'e'].map((letter) => `keep-${letter}`);
  const pids = new Map<string, number>();
  for (const name of names) {
    t.is((await call('POST', '/api/server/instances', { name })).status, 201);
    const started = await call('POST', `/api/server/instances/${name}/start`);
    t.is(started.status, 200, outputs(controlPlane.process, first.process));
    pids.set(name, Number((started.body as unknown as InstanceView).runtime!.workloadId));
  }

  first.process.kill('SIGKILL');
  t.true(await first.process.exited(10_000));
  t.true([...pids.values()].every(isAlive), 'servers outlive their worker');
  process.kill(pids.get('keep-e')!, 'SIGKILL'); // dies while no worker watches it

  const second = await startWorker(t, redis.url, { workerId: 'steady', ports: range, dataDir: first.dataDir });
  await waitForWorker(controlPlane, second);
  t.regex(second.process.output(), /recovery adopted 4, lost 1/);

  await eventually(
    async () => {
      const view = (await call('GET', '/api/server/instances/keep-e')).body as unknown as InstanceView;
      return view.status === 'Running' && Number(view.runtime?.workloadId) !== pids.get('keep-e');
    },
    30_000,
    'keep-e restarted',
    [controlPlane.process, second.process],
  );
  for (const name of names.slice(0, 4)) {
    const view = (await call('GET', `/api/server/instances/${name}`)).body as unknown as InstanceView;
    t.is(view.status, 'Running', name);
    t.is(Number(view.runtime?.workloadId), pids.get(name) ?? -1, `${name} kept its pid`);
  }
  const history = ((await call('GET', '/api/status/keep-e/status')).body as unknown as InstanceStatusView).history;
  t.true(history.some((entry) => entry.from === 'Running' && entry.to === 'Failed' && entry.cause === 'workload.exited'));
  t.is(countDoubles(first.dataDir), 5, 'five servers, no duplicates');
  // The adopted servers are still manageable through the restarted worker.
  const stopped = await call('POST', '/api/server/instances/keep-a/stop');
  t.is(stopped.status, 200);
  t.false(isAlive(pids.get('keep-a') ?? -1));
});
