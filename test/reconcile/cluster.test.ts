/**
 * Reconciliation in cluster mode: `draas control-plane` and `draas worker
 * --platform process` as separate processes on a private Redis. The apply and
 * the drift checks travel the Redis transport to the worker, which reaches
 * the server's component API.
 */
import type { ExecutionContext } from 'ava';
import { testWithRedis } from '../helpers/engines.js';
import { ports, redisServer, startControlPlane, startWorker, waitForWorker } from '../cluster/_harness.js';
import { configurationChanges, crashRecovered, driftRepaired, failedCallRestarts, type ScenarioWorld } from './_scenario.js';

const { test } = testWithRedis('cluster reconciliation');
const reconcileIntervalMs = 500;

async function world(t: ExecutionContext): Promise<ScenarioWorld> {
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, { reconcileIntervalMs, startTimeoutMs: 15_000, replyTimeoutMs: 5_000 });
  const worker = await startWorker(t, redis.url, { workerId: `rc-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 6)}`, ports: ports(20) });
  await waitForWorker(controlPlane, worker);
  return {
    call: async (method, route, body) => {
      const answer = await controlPlane.call(method, route, body, 30_000);
      return { status: answer.status, body: answer.body as Record<string, unknown> };
    },
    createFields: {},
    kill: async (workloadId) => {
      process.kill(Number(workloadId), 'SIGKILL');
    },
  };
}

test.serial('cluster: config changes reach the running server without a restart where they can, with one where they must', async (t) => {
  await configurationChanges(t, await world(t), 'cl-changes');
});

test.serial('cluster: a query and reaction deleted on the server are put back within a reconcile interval', async (t) => {
  await driftRepaired(t, await world(t), 'cl-drift', reconcileIntervalMs);
});

test.serial('cluster: a component call the server refuses makes the change a restart', async (t) => {
  await failedCallRestarts(t, await world(t), 'cl-refused');
});

test.serial('cluster: a killed server is Failed, backs off and runs again', async (t) => {
  await crashRecovered(t, await world(t), 'cl-crash');
});
