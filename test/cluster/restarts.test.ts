/**
 * Nothing is lost when a cluster's parts restart one after another, with 50
 * Drasi Servers running: the control plane is SIGKILLed and started again
 * (records and snapshots come back from Redis), then the worker (it re-adopts
 * its servers), then Redis itself (append-only file, fsynced on every write).
 * After each: all 50 instances are listed, Running, with the same pids, and
 * exactly 50 servers run — none restarted, none duplicated.
 */
import type { InstanceStatusView, InstanceView } from '../../src/api/instance-view.js';
import {
  countDoubles,
  doublesUnder,
  eventually,
  mapLimit,
  outputs,
  ports,
  redisServer,
  startControlPlane,
  startWorker,
  waitForWorker,
  type Call,
  type NodeProcess,
} from './_harness.js';
import { isAlive } from '../helpers/processes.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

const COUNT = 50;

async function listAll(call: Call): Promise<InstanceView[]> {
  const response = await call('GET', '/api/server/instances', undefined, 10_000);
  if (response.status !== 200) throw new Error(`list: ${response.status}`);
  return response.body as unknown as InstanceView[];
}

test('control plane, worker and Redis restarted in turn: all 50 instances kept, Running, same pids', async (t) => {
  t.timeout(240_000);
  const redis = await redisServer(t, { appendonly: true });
  const range = ports(COUNT + 10);
  let controlPlane = await startControlPlane(t, redis.url, { replicaId: 'cp-1' });
  let worker = await startWorker(t, redis.url, { workerId: 'host-1', ports: range });
  await waitForWorker(controlPlane, worker);
  const names = Array.from({ length: COUNT }, (_, i) => `keep-${i}`);
  const pids = new Map<string, string>();
  await mapLimit(names, 10, async (name) => {
    const created = await controlPlane.call('POST', '/api/server/instances', { name });
    if (created.status !== 201) throw new Error(`${name}: ${created.status} ${JSON.stringify(created.body)}`);
    const started = await controlPlane.call('POST', `/api/server/instances/${name}/start`);
    if (started.status !== 200) throw new Error(`${name}: ${started.status} ${JSON.stringify(started.body)}`);
    pids.set(name, started.body.runtime!.workloadId);
  });

  const allKept = async (what: string, processes: NodeProcess[]) => {
    await eventually(
      async () => {
        const views = await listAll(controlPlane.call);
        return views.length === COUNT && views.every((view) => view.status === 'Running');
      },
      30_000,
      `${what}: all ${COUNT} listed and Running`,
      processes,
    );
    const views = await listAll(controlPlane.call);
    t.deepEqual(views.map((view) => view.id).sort(), [...names].sort(), `${what}: every record kept`);
    for (const view of views) t.is(view.runtime?.workloadId, pids.get(view.id), `${what}: ${view.id} kept its pid`);
    const running = doublesUnder(worker.dataDir);
    t.is(countDoubles(worker.dataDir), COUNT, `${what}: exactly ${COUNT} servers`);
    t.true(names.every((name) => running.get(name)?.length === 1), `${what}: one server per instance`);
  };

  // 1. The control plane dies and comes back: everything is rehydrated from Redis.
  controlPlane.process.kill('SIGKILL');
  t.true(await controlPlane.process.exited(10_000));
  controlPlane = await startControlPlane(t, redis.url, { replicaId: 'cp-1' });
  await allKept('control plane restarted', [controlPlane.process, worker.process]);
  const history = (await controlPlane.call('GET', '/api/status/keep-7/status')).body as unknown as InstanceStatusView;
  t.like(history.history.at(-1), { from: 'Running', to: 'Running', cause: 'instance.recover' });

  // 2. The worker dies and comes back on its data dir: it re-adopts every server.
  worker.process.kill('SIGKILL');
  t.true(await worker.process.exited(10_000));
  t.true([...pids.values()].every((pid) => isAlive(Number(pid))), 'servers outlive their worker');
  worker = await startWorker(t, redis.url, { workerId: 'host-1', ports: range, dataDir: worker.dataDir });
  await waitForWorker(controlPlane, worker);
  t.regex(worker.process.output(), new RegExp(`recovery adopted ${COUNT}, lost 0`));
  await allKept('worker restarted', [controlPlane.process, worker.process]);

  // 3. Redis dies and comes back from its append-only file; both reconnect by themselves.
  await redis.kill();
  await redis.restart();
  await waitForWorker(controlPlane, worker);
  await allKept('Redis restarted', [controlPlane.process, worker.process]);

  // Still manageable afterwards.
  const stopped = await controlPlane.call('POST', '/api/server/instances/keep-7/stop');
  t.is(stopped.status, 200, outputs(controlPlane.process, worker.process));
  t.is(stopped.body.status, 'Stopped');
  t.false(isAlive(Number(pids.get('keep-7'))));
});
