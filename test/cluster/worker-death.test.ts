/**
 * A worker host dies (kill -9 of the worker and of every server it launched)
 * while it holds unacknowledged start commands: another worker reclaims them
 * after --claim-idle and completes every one; each instance ends Running
 * exactly once, on the survivor.
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

test('kill -9 of a worker holding unacknowledged starts: the survivor completes every command, each instance runs once', async (t) => {
  t.timeout(150_000);
  const redis = await redisServer(t);
  // Generous: the requests must outlive the reclaim (claim idle + a 4 s start).
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: 30_000, replyTimeoutMs: 10_000, claimIdleMs: CLAIM_IDLE_MS });
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
  const failures = responses.flatMap((response, i) =>
    response.status === 200 && response.body.status === 'Running' ? [] : [`${ids[i]}: ${response.status} ${JSON.stringify(response.body)}`],
  );
  t.deepEqual(failures, [], outputs(...all));

  // Exactly one live server per instance, all of them the survivor's, and the ones the API reports.
  const table = processTable();
  t.is(countDoubles(doomed.dataDir, table), 0, 'nothing runs under the dead worker');
  const onSurvivor = doublesUnder(survivor.dataDir, table);
  ids.forEach((id, i) => {
    t.deepEqual(onSurvivor.get(id), [Number(responses[i]!.body.runtime?.workloadId)], `${id}: one server, on the survivor`);
  });
  t.is(countDoubles(survivor.dataDir, table), INSTANCES);

  // The survivor took over exactly the commands the dead worker held, each once.
  const reclaimed = survivor.process.output().match(/reclaimed \S+ from \S+/g) ?? [];
  t.is(reclaimed.length, held.length, outputs(survivor.process));
  const listed = await call('GET', '/api/server/instances');
  t.true((listed.body as unknown as { status: string }[]).every((view) => view.status === 'Running'));

  // Stops reach the surviving worker's servers.
  const stopped = await call('POST', `/api/server/instances/${held[0]}/stop`);
  t.is(stopped.status, 200, outputs(...all));
  t.is(stopped.body.status, 'Stopped');
  t.is(doublesUnder(survivor.dataDir).get(held[0]!), undefined);
});
