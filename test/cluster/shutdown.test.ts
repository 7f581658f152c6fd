/**
 * Shutdown finishes within its grace period whatever Redis does (issue 10,
 * item 6). A control plane and a process worker get SIGTERM while Redis is
 * gone: killed (connections refused) or stopped with SIGSTOP (it accepts TCP
 * but never answers, the nastier case). Both must exit within the grace plus
 * a margin, and say what they abandoned. The same holds for the library:
 * `close()` of a cluster control plane resolves within its close deadline.
 */
import { Redis } from 'ioredis';
import type { ExecutionContext } from 'ava';
import { startClusterControlPlane } from '../../src/cluster.js';
import { testWithRedis } from '../helpers/engines.js';
import { settledWithin } from '../helpers/processes.js';
import {
  outputs,
  ports,
  redisServer,
  sleep,
  startControlPlane,
  startWorker,
  waitForWorker,
  type NodeProcess,
} from './_harness.js';
import type { RedisServer } from '../helpers/redis-server.js';

const { test } = testWithRedis('cluster mode');

/**
 * The grace each case gives (`DRAAS_SHUTDOWN_GRACE_MS`, inherited by the processes; a draas without the
 * setting ignores it). A killed Redis refuses at once: what needs it is given up at once, and the longest
 * wait left (a worker's handler whose reply cannot be written, about 4 s) is well within 10 s. A stopped
 * one never answers: every bounded wait runs its full bound, which adds up (leases, then each connection's
 * QUIT) to more than 2 s, so that grace surely runs out and the give-up path is what is tested.
 */
const GRACE_MS = { killed: 10_000, stopped: 2_000 } as const;
/** Generous: a loaded 2-core machine. Without the fix the processes never exit at all. */
const MARGIN_MS = 10_000;

/** The redis-server's pid, as it reports it itself. */
async function redisPid(url: string): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const match = /process_id:(\d+)/.exec(await client.info('server'));
    if (!match) throw new Error('INFO server reported no process_id');
    return Number(match[1]);
  } finally {
    client.disconnect();
  }
}

/** SIGSTOPs Redis; a teardown (run before the server's own) lets it continue so it can be stopped. */
async function stopRedis(t: ExecutionContext, redis: RedisServer): Promise<void> {
  const pid = await redisPid(redis.url);
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  process.kill(pid, 'SIGSTOP');
}

async function exitWithin(node: NodeProcess, ms: number): Promise<{ exited: boolean; ms: number }> {
  const began = Date.now();
  const exited = await node.exited(ms);
  return { exited, ms: Date.now() - began };
}

for (const fault of ['killed', 'stopped'] as const) {
  test.serial(`SIGTERM while Redis is ${fault}: control plane and worker exit within their grace and say what they abandoned`, async (t) => {
    t.timeout(150_000);
    const grace = GRACE_MS[fault];
    process.env.DRAAS_SHUTDOWN_GRACE_MS = String(grace);
    const redis = await redisServer(t);
    const controlPlane = await startControlPlane(t, redis.url, { replicaId: `cp-${fault}` });
    const worker = await startWorker(t, redis.url, { workerId: `w-${fault}`, ports: ports(4) });
    await waitForWorker(controlPlane, worker);
    const all = [controlPlane.process, worker.process];
    const { call } = controlPlane;
    t.is((await call('POST', '/api/server/instances', { name: 'survivor' })).status, 201);
    const started = await call('POST', '/api/server/instances/survivor/start');
    t.is(started.status, 200, `${JSON.stringify(started.body)}\n${outputs(...all)}`);

    if (fault === 'killed') await redis.kill();
    else await stopRedis(t, redis);
    // Work that needs Redis is now under way and cannot finish: a stop (a transition to save, a command to send).
    void call('POST', '/api/server/instances/survivor/stop', undefined, 3_000).catch(() => undefined);
    await sleep(1_000);

    controlPlane.process.kill('SIGTERM');
    worker.process.kill('SIGTERM');
    const [cp, w] = await Promise.all([exitWithin(controlPlane.process, grace + MARGIN_MS), exitWithin(worker.process, grace + MARGIN_MS)]);
    t.log(`control plane: exited ${cp.exited} after ${cp.ms} ms (status ${controlPlane.process.exitCode}); worker: exited ${w.exited} after ${w.ms} ms (status ${worker.process.exitCode}); grace ${grace} ms`);
    t.true(cp.exited, `the control plane is still running ${cp.ms} ms after SIGTERM (grace ${grace} ms)\n${outputs(...all)}`);
    t.true(w.exited, `the worker is still running ${w.ms} ms after SIGTERM (grace ${grace} ms)\n${outputs(...all)}`);

    const cpLog = controlPlane.process.output();
    const workerLog = worker.process.output();
    if (fault === 'killed') {
      // Redis refuses at once: the shutdown finishes inside its grace (status 0), saying what it could not do and what happens to it instead.
      t.is(controlPlane.process.exitCode, 0, outputs(controlPlane.process));
      t.is(worker.process.exitCode, 0, outputs(worker.process));
      t.regex(cpLog, /snapshot not saved: .*given up at shutdown: .*rehydrates/, outputs(controlPlane.process));
      t.regex(cpLog, /lease\(s\) of shard\(s\) [\d, ]+ not released .*expire/, outputs(controlPlane.process));
      t.regex(workerLog, /presence of worker w-killed not withdrawn .*expires/, outputs(worker.process));
    } else {
      // Redis never answers: the grace runs out; each process says what it gave up on and fails (status 1).
      t.regex(cpLog, /shutdown: gave up after \d+ ms on: .+/, outputs(controlPlane.process));
      t.regex(workerLog, /shutdown: gave up after \d+ ms on: .+/, outputs(worker.process));
      t.is(controlPlane.process.exitCode, 1, outputs(controlPlane.process));
      t.is(worker.process.exitCode, 1, outputs(worker.process));
    }
  });
}

test.serial('library: close() of a cluster control plane resolves within its close deadline while Redis is stopped', async (t) => {
  t.timeout(60_000);
  const CLOSE_TIMEOUT_MS = 3_000;
  const redis = await redisServer(t);
  const lines: string[] = [];
  const controlPlane = await startClusterControlPlane({
    redis: { url: redis.url, prefix: 'shutdown-lib:' },
    replicaId: 'cp-library',
    closeTimeoutMs: CLOSE_TIMEOUT_MS,
    log: (line) => lines.push(line),
  });
  await controlPlane.create({ name: 'kept' });
  await stopRedis(t, redis);

  const began = Date.now();
  const outcome = await settledWithin(controlPlane.close().then(() => 'closed' as const), CLOSE_TIMEOUT_MS + MARGIN_MS, 'still closing' as const);
  const ms = Date.now() - began;
  t.log(`close(): ${outcome} after ${ms} ms (deadline ${CLOSE_TIMEOUT_MS} ms)\n${lines.join('\n')}`);
  t.is(outcome, 'closed');
  t.true(ms < CLOSE_TIMEOUT_MS + MARGIN_MS, `close() took ${ms} ms`);
  t.true(
    lines.some((line) => /not released .*expire/.test(line)),
    `a line says which leases were left to expire:\n${lines.join('\n')}`,
  );
});
