/**
 * Reconciliation in cluster mode: `draas control-plane` and `draas worker
 * --platform process` as separate processes on a private Redis. The apply and
 * the drift checks travel the Redis transport to the worker, which reaches
 * the server's component API.
 */
import { testWithRedis } from '../helpers/engines.js';
import { ports, redisServer, startControlPlane, startWorker, waitForWorker } from '../cluster/_harness.js';
import { registerScenarios } from './_scenario.js';

const { test } = testWithRedis('cluster reconciliation');
const reconcileIntervalMs = 500;

registerScenarios(test.serial, 'cluster', {
  reconcileIntervalMs,
  name: (prefix) => `cl-${prefix}`,
  world: async (t) => {
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
  },
});
