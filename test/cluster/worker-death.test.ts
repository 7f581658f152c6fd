/**
 * A worker host dies (kill -9 of the worker and of every server it launched)
 * while it holds unacknowledged start commands. Its commands are never run by
 * another worker (that could start a second server beside one that still
 * runs): the starts are answered at once with 503 worker-lost, and with a
 * worker-lost timeout the instances are placed on the survivor after it, each
 * Running exactly once there.
 */
import {
  countDoubles,
  doublesUnder,
  eventually,
  killEverythingUnder,
  outputs,
  ports,
  processTable,
  redisServer,
  startControlPlane,
  startWorker,
  waitForWorker,
  type ApiResponse,
} from './_harness.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

const INSTANCES = 8;
const CLAIM_IDLE_MS = 1_500;
const WORKER_LOST_TIMEOUT_MS = 1_000;

test('kill -9 of a worker host holding unacknowledged starts: answered 503 worker-lost at once, then each instance runs once on the survivor', async (t) => {
  t.timeout(150_000);
  const redis = await redisServer(t);
  // Generous timeouts: a start answered before them was decided, not timed out.
  const controlPlane = await startControlPlane(t, redis.url, {
    startTimeoutMs: 30_000,
    replyTimeoutMs: 10_000,
    claimIdleMs: CLAIM_IDLE_MS,
    workerLostTimeoutMs: WORKER_LOST_TIMEOUT_MS,
  });
  const [doomed, survivor] = await Promise.all([
    startWorker(t, redis.url, { workerId: 'doomed', ports: ports(INSTANCES + 5), claimIdleMs: CLAIM_IDLE_MS }),
    startWorker(t, redis.url, { workerId: 'survivor', ports: ports(2 * INSTANCES + 5), claimIdleMs: CLAIM_IDLE_MS }),
  ]);
  await waitForWorker(controlPlane, doomed);
  await waitForWorker(controlPlane, survivor);
  const { call } = controlPlane;
  const all = [controlPlane.process, doomed.process, survivor.process];
  const ids = Array.from({ length: INSTANCES }, (_, i) => `r-${i}`);
  for (const name of ids) {
    const created = await call('POST', '/api/server/instances', {
      name,
      environment: { DRASI_DOUBLE_STARTUP_DELAY_MS: '4000', DRASI_DOUBLE_LOG_INTERVAL_MS: '0' },
    });
    t.is(created.status, 201);
  }

  // All starts in flight at once; the two workers share them.
  const began = Date.now();
  const starts: Promise<ApiResponse>[] = ids.map((id) => call('POST', `/api/server/instances/${id}/start`));
  for (const start of starts) start.catch(() => undefined); // awaited below; a failed test must not leave them unhandled
  await eventually(
    () => countDoubles(doomed.dataDir) + countDoubles(survivor.dataDir) === INSTANCES,
    20_000,
    'every start delivered to a worker and its server launched',
    all,
  );
  const held = [...doublesUnder(doomed.dataDir).keys()].sort();
  t.log(`the doomed worker holds ${held.length} of ${INSTANCES} starts (${held.join(', ')}) after ${Date.now() - began} ms`);
  t.true(held.length > 0, 'the doomed worker holds some unacknowledged starts');
  for (const id of held) {
    t.is((await call('GET', `/api/server/instances/${id}`)).body.status, 'Starting', `${id} is still starting: nothing was acknowledged yet`);
  }

  // The host dies: the worker and every server it launched, at once.
  const killed = killEverythingUnder(doomed.dataDir);
  t.true(killed.includes(doomed.process.pid));
  await eventually(() => !doomed.process.running && countDoubles(doomed.dataDir) === 0, 10_000, 'the doomed host is gone', all);
  const killedAt = Date.now();

  const responses = await Promise.all(starts);
  t.log(`every start answered ${Date.now() - killedAt} ms after the kill`);
  const answers = responses.map((response, i) => `${ids[i]}: ${response.status} ${String(response.body.type ?? response.body.status)}`);
  // The doomed worker's starts are refused as lost (its presence expires in ~6 s), never completed elsewhere meanwhile.
  ids.forEach((id, i) => {
    const response = responses[i]!;
    if (held.includes(id)) t.is(response.body.type, 'urn:draas:problem:worker-lost', answers.join('\n'));
    else t.is(response.body.status, 'Running', answers.join('\n'));
    t.true(response.ms < 20_000, `${id} answered in ${response.ms} ms, long before the 30 s start timeout`);
  });

  // After the worker-lost timeout, the automatic restarts place them on the survivor.
  await eventually(
    async () => {
      const listed = (await call('GET', '/api/server/instances')).body as unknown as { status: string; workerId: string }[];
      return listed.length === INSTANCES && listed.every((view) => view.status === 'Running' && view.workerId === 'survivor');
    },
    60_000,
    'every instance Running on the survivor',
    all,
  );

  // Exactly one live server per instance, all of them the survivor's, and the ones the API reports.
  const table = processTable();
  t.is(countDoubles(doomed.dataDir, table), 0, 'nothing runs under the dead worker');
  const onSurvivor = doublesUnder(survivor.dataDir, table);
  for (const id of ids) {
    const view = (await call('GET', `/api/server/instances/${id}`)).body;
    t.deepEqual(onSurvivor.get(id), [Number(view.runtime?.workloadId)], `${id}: one server, on the survivor`);
  }
  t.is(countDoubles(survivor.dataDir, table), INSTANCES);
  t.notRegex(survivor.process.output(), /reclaimed \S+ from \S+/, "no command of the dead worker was run by the survivor");

  // Stops reach the surviving worker's servers.
  const stopped = await call('POST', `/api/server/instances/${held[0]}/stop`);
  t.is(stopped.status, 200, outputs(...all));
  t.is(stopped.body.status, 'Stopped');
  t.is(doublesUnder(survivor.dataDir).get(held[0]!), undefined);
});
