/**
 * Fault suite: a worker is SIGKILLed while it runs (and starts) servers. Its
 * servers keep running in their own process groups, so nothing may start a
 * second server for any of its instances; every request is answered
 * promptly; a stop or delete is honoured when the worker returns; and once it
 * is back, no server of ours is left running that its instance does not want.
 * With a worker-lost timeout, the lost instances move to the surviving worker,
 * which first stops the old servers (same host), so there are never two.
 */
import type { ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  doublesUnder,
  eventually,
  mapLimit,
  outputs,
  ports,
  processTable,
  redisServer,
  startControlPlane,
  startWorker,
  waitForWorker,
  type ApiResponse,
  type Call,
  type WorkerProcess,
} from '../cluster/_harness.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('fault suite');

/** Far above what a prompt answer takes: an answer slower than this would be a timeout, not a decision. */
const PROMPT_MS = 15_000;

/** Samples the process table until stopped: the most servers seen at once per instance, across the workers' data dirs. */
/** The view's WorkerLost condition while it holds. */
function workerLost(view: ApiResponse['body']): Record<string, unknown> | undefined {
  return (view.conditions as unknown as Record<string, unknown>[]).find((condition) => condition['type'] === 'WorkerLost' && condition['status'] === 'True');
}

function watchDuplicates(workers: () => WorkerProcess[]) {
  const most = new Map<string, number>();
  let running = true;
  const sample = () => {
    const table = processTable();
    const now = new Map<string, number>();
    for (const worker of workers()) {
      for (const [id, pids] of doublesUnder(worker.dataDir, table)) now.set(id, (now.get(id) ?? 0) + pids.length);
    }
    for (const [id, count] of now) most.set(id, Math.max(most.get(id) ?? 0, count));
  };
  const loop = (async () => {
    while (running) {
      sample();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop(): Promise<Map<string, number>> {
      running = false;
      await loop;
      sample();
      return most;
    },
  };
}

function duplicatesIn(most: Map<string, number>): string[] {
  return [...most].filter(([, count]) => count > 1).map(([id, count]) => `${id}: ${count} servers at once`);
}

function liveServers(workers: WorkerProcess[]): Map<string, number> {
  const table = processTable();
  const all = new Map<string, number>();
  for (const worker of workers) for (const [id, pids] of doublesUnder(worker.dataDir, table)) all.set(id, (all.get(id) ?? 0) + pids.length);
  return all;
}

async function instances(call: Call, ids: string[]): Promise<Map<string, ApiResponse['body']>> {
  const views = await mapLimit(ids, 10, (id) => call('GET', `/api/server/instances/${id}`));
  return new Map(ids.map((id, i) => [id, views[i]!.body]));
}

function slowAnswers(responses: ApiResponse[], ids: string[]): string[] {
  return responses.flatMap((response, i) => (response.ms < PROMPT_MS ? [] : [`${ids[i]}: ${response.status} after ${response.ms} ms`]));
}

async function setUp(t: ExecutionContext, count: number, controlPlaneFlags: { workerLostTimeoutMs?: number } = {}) {
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, {
    startTimeoutMs: 60_000,
    replyTimeoutMs: 60_000,
    stopGraceMs: 2_000,
    ...controlPlaneFlags,
  });
  const [doomed, survivor] = await Promise.all([
    startWorker(t, redis.url, { workerId: 'doomed', ports: ports(count + 10) }),
    startWorker(t, redis.url, { workerId: 'survivor', ports: ports(2 * count + 10) }),
  ]);
  await waitForWorker(controlPlane, doomed);
  await waitForWorker(controlPlane, survivor);
  return { redis, controlPlane, doomed, survivor };
}

test.serial('SIGKILL of a worker mid-stream: no instance ever runs twice, stops are honoured when it returns, nothing is left over', async (t) => {
  t.timeout(240_000);
  const INSTANCES = 40;
  const { redis, controlPlane, doomed, survivor } = await setUp(t, INSTANCES);
  const { call } = controlPlane;
  let workers = [doomed, survivor];
  const all = () => outputs(controlPlane.process, ...workers.map((worker) => worker.process));
  const ids = Array.from({ length: INSTANCES }, (_, i) => `w-${String(i).padStart(2, '0')}`);
  for (const name of ids) {
    const created = await call('POST', '/api/server/instances', {
      name,
      environment: { DRASI_DOUBLE_STARTUP_DELAY_MS: '1500', DRASI_DOUBLE_LOG_INTERVAL_MS: '0' },
    });
    t.is(created.status, 201);
  }
  const duplicates = watchDuplicates(() => workers);

  // All 40 starts at once; one second in, the doomed worker is SIGKILLed (its servers live on in their own process groups).
  const starts = ids.map((id) => call('POST', `/api/server/instances/${id}/start`, undefined, 120_000));
  await eventually(() => doublesUnder(doomed.dataDir).size >= 3, 20_000, 'the doomed worker launched servers', [controlPlane.process, doomed.process]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  doomed.process.kill('SIGKILL');
  const killedAt = Date.now();
  const orphaned = doublesUnder(doomed.dataDir).size;
  t.log(`the doomed worker was killed with ${orphaned} servers launched (they live on in their own process groups)`);
  t.true(orphaned > 0, all());
  const started = await Promise.all(starts);
  t.log(`every start answered within ${Date.now() - killedAt} ms of the kill`);
  t.deepEqual(slowAnswers(started, ids), [], all());
  const statuses = started.map((response) => response.status);
  t.true(statuses.every((status) => status === 200 || status === 503), `answers: ${JSON.stringify(statuses)}`);
  for (const response of started.filter((r) => r.status === 503)) t.is(response.body.type, 'urn:draas:problem:worker-lost', JSON.stringify(response.body));

  // The survivor did not start any of the doomed worker's instances; those are reported lost, not failed over.
  const views = await instances(call, ids);
  const onDoomed = ids.filter((id) => views.get(id)!.workerId === 'doomed');
  const onSurvivor = ids.filter((id) => views.get(id)!.workerId === 'survivor');
  t.log(`${onDoomed.length} instances were placed on the doomed worker, ${onSurvivor.length} on the survivor`);
  t.true(onDoomed.length > 0 && onSurvivor.length > 0, 'both workers got instances');
  t.is(onDoomed.length + onSurvivor.length, INSTANCES);
  for (const id of onDoomed) {
    const view = views.get(id)!;
    t.is(view.observedState, 'Unknown', `${id}: ${JSON.stringify(view)}`);
    t.like(workerLost(view), { type: 'WorkerLost', status: 'True', workerId: 'doomed' }, `${id}: ${JSON.stringify(view)}`);
  }
  for (const id of onSurvivor) t.is(views.get(id)!.status, 'Running', `${id}: ${JSON.stringify(views.get(id))}`);
  t.deepEqual([...doublesUnder(survivor.dataDir).keys()].filter((id) => onDoomed.includes(id)), [], 'nothing of the doomed worker runs on the survivor');

  // Stop all 40: answered promptly; the lost worker's stops wait in its queue (observed Unknown until it returns).
  const stops = await mapLimit(ids, 20, (id) => call('POST', `/api/server/instances/${id}/stop`, undefined, 120_000));
  t.deepEqual(slowAnswers(stops, ids), [], all());
  t.deepEqual(
    stops.flatMap((response, i) => (response.status === 200 && response.body.status === 'Stopped' ? [] : [`${ids[i]}: ${response.status} ${JSON.stringify(response.body)}`])),
    [],
    all(),
  );
  t.is(doublesUnder(survivor.dataDir).size, 0, 'the survivor stopped all of its servers');
  const stillRunning = doublesUnder(doomed.dataDir).size;
  t.log(`${stillRunning} servers of the dead worker still run until it returns`);

  // The worker comes back with the same id: it re-adopts, runs the queued stops, and stops what is not current.
  const returned = await startWorker(t, redis.url, { workerId: 'doomed', dataDir: doomed.dataDir, ports: ports(INSTANCES + 10) });
  workers = [returned, survivor];
  const leftovers = () => JSON.stringify([...doublesUnder(returned.dataDir)].map(([id, pids]) => [id, pids, existsSync(path.join(returned.dataDir, 'instances', id, 'workload.json')) ? readFileSync(path.join(returned.dataDir, 'instances', id, 'workload.json'), 'utf8') : 'no state file']));
  await eventually(() => liveServers(workers).size === 0, 30_000, 'no server of ours left running', [controlPlane.process, returned.process]).catch((error: unknown) => {
    throw new Error(`${String(error)}\nleft running: ${leftovers()}`);
  });
  await eventually(
    async () => [...(await instances(call, ids)).values()].every((view) => view.status === 'Stopped' && view.observedState === 'Stopped' && workerLost(view) === undefined),
    15_000,
    'every instance Stopped, observed Stopped, no condition',
    [controlPlane.process, returned.process],
  );
  t.deepEqual(duplicatesIn(await duplicates.stop()), [], 'never two live servers of one instance');

  // Deletes of all of them leave nothing either.
  const deletes = await mapLimit(ids, 20, (id) => call('DELETE', `/api/server/instances/${id}`, undefined, 60_000));
  t.true(deletes.every((response) => response.status === 204), JSON.stringify(deletes.map((response) => response.status)));
  t.is(liveServers(workers).size, 0);
});

test.serial('with a worker-lost timeout, a lost worker’s Running instances move to the survivor, which stops the old servers first', async (t) => {
  t.timeout(180_000);
  const INSTANCES = 8;
  const { redis, controlPlane, doomed, survivor } = await setUp(t, INSTANCES, { workerLostTimeoutMs: 2_000 });
  const { call } = controlPlane;
  let workers = [doomed, survivor];
  const all = () => outputs(controlPlane.process, ...workers.map((worker) => worker.process));
  const ids = Array.from({ length: INSTANCES }, (_, i) => `m-${i}`);
  for (const name of ids) t.is((await call('POST', '/api/server/instances', { name, environment: { DRASI_DOUBLE_LOG_INTERVAL_MS: '0' } })).status, 201);
  const started = await Promise.all(ids.map((id) => call('POST', `/api/server/instances/${id}/start`)));
  t.true(started.every((response) => response.status === 200), all());
  const onDoomed = ids.filter((id, i) => started[i]!.body.workerId === 'doomed');
  t.true(onDoomed.length > 0, 'the doomed worker runs some instances');
  const duplicates = watchDuplicates(() => workers);

  doomed.process.kill('SIGKILL');
  // Lost after its presence expires (about 6 s), then the 2 s timeout, then a start on the survivor.
  await eventually(
    async () => [...(await instances(call, onDoomed)).values()].every((view) => view.status === 'Running' && view.workerId === 'survivor'),
    60_000,
    "the lost worker's instances Running on the survivor",
    [controlPlane.process, survivor.process],
  );
  t.deepEqual([...doublesUnder(doomed.dataDir).keys()], [], "the survivor stopped the dead worker's servers (same host) before starting its own");
  for (const id of ids) t.is(doublesUnder(survivor.dataDir).get(id)?.length, 1, `${id} runs once, on the survivor`);
  t.regex(survivor.process.output(), /previous workload \d+ of "m-\d" \(worker doomed\): stopped/);

  // The dead worker returns: the remove queued for it at the move is run; nothing of it runs again.
  const returned = await startWorker(t, redis.url, { workerId: 'doomed', dataDir: doomed.dataDir, ports: ports(INSTANCES + 10) });
  workers = [returned, survivor];
  await waitForWorker(controlPlane, returned);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  t.is(doublesUnder(returned.dataDir).size, 0, all());
  t.deepEqual(duplicatesIn(await duplicates.stop()), [], 'never two live servers of one instance');
  const views = await instances(call, ids);
  t.true([...views.values()].every((view) => view.status === 'Running' && workerLost(view) === undefined), JSON.stringify([...views.values()]));
});
