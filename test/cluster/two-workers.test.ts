/**
 * Two process workers (separate OS processes, separate data dirs, disjoint
 * port ranges) consume one command queue: 200 starts for 200 instances run
 * exactly once each, split between the workers.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  countDoubles,
  doublesUnder,
  mapLimit,
  memAvailableMiB,
  outputs,
  ports,
  processTable,
  redisServer,
  rssMiB,
  startControlPlane,
  startWorker,
  waitForWorker,
} from './_harness.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

const INSTANCES = 200;
const CONCURRENCY = 20;

test('200 starts over two workers: each executed exactly once, one live server per instance, both workers used', async (t) => {
  t.timeout(240_000);
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: 60_000, replyTimeoutMs: 10_000, stopGraceMs: 5_000 });
  const [a, b] = await Promise.all([
    startWorker(t, redis.url, { workerId: 'scale-a', ports: ports(INSTANCES + 20), stopGraceMs: 5_000 }),
    startWorker(t, redis.url, { workerId: 'scale-b', ports: ports(INSTANCES + 20), stopGraceMs: 5_000 }),
  ]);
  await waitForWorker(controlPlane, a);
  await waitForWorker(controlPlane, b);
  const { call } = controlPlane;
  const log = () => outputs(controlPlane.process, a.process, b.process);
  const ids = Array.from({ length: INSTANCES }, (_, i) => `s-${String(i).padStart(3, '0')}`);
  const availableBefore = memAvailableMiB();

  let began = Date.now();
  const created = await mapLimit(ids, CONCURRENCY, (name) =>
    call('POST', '/api/server/instances', { name, environment: { DRASI_DOUBLE_LOG_INTERVAL_MS: '0' } }),
  );
  t.true(created.every((response) => response.status === 201), log());
  t.log(`created ${INSTANCES} instances in ${Date.now() - began} ms`);

  began = Date.now();
  const started = await mapLimit(ids, CONCURRENCY, (id) => call('POST', `/api/server/instances/${id}/start`));
  const startMs = Date.now() - began;
  const failures = started.flatMap((response, i) =>
    response.status === 200 && response.body.status === 'Running' ? [] : [`${ids[i]}: ${response.status} ${JSON.stringify(response.body)}`],
  );
  t.deepEqual(failures, [], log());
  t.log(`started ${INSTANCES} instances (${CONCURRENCY} at a time) in ${startMs} ms`);

  // Exactly one live server per instance, across both data dirs, and it is the one the API reports.
  const table = processTable();
  const onA = doublesUnder(a.dataDir, table);
  const onB = doublesUnder(b.dataDir, table);
  const problems: string[] = [];
  ids.forEach((id, i) => {
    const pids = [...(onA.get(id) ?? []), ...(onB.get(id) ?? [])];
    if (pids.length !== 1) problems.push(`${id}: ${pids.length} live servers (${pids.join(', ')})`);
    else if (pids[0] !== Number(started[i]!.body.runtime?.workloadId)) {
      problems.push(`${id}: live pid ${pids[0]} but the API reports ${started[i]!.body.runtime?.workloadId}`);
    }
    const dirs = [a, b].filter((worker) => existsSync(path.join(worker.dataDir, 'instances', id)));
    if (dirs.length !== 1) problems.push(`${id}: a working directory in ${dirs.length} data dirs`);
  });
  t.deepEqual(problems, []);
  const total = countDoubles(a.dataDir, table) + countDoubles(b.dataDir, table);
  t.is(total, INSTANCES, 'live servers in total');
  t.true(onA.size > 0 && onB.size > 0, `both workers ran some: ${a.workerId} ${onA.size}, ${b.workerId} ${onB.size}`);
  t.log(`split: ${a.workerId} ran ${onA.size}, ${b.workerId} ran ${onB.size}`);
  // Every port is distinct (the ranges are disjoint, and each driver never hands one out twice).
  t.is(new Set(started.map((response) => response.body.runtime?.port)).size, INSTANCES);

  // Logs come from the worker that runs the server, whichever it is.
  const sample = [...onA.keys()].slice(0, 3).concat([...onB.keys()].slice(0, 3));
  for (const id of sample) {
    const logs = await call('GET', `/api/server/instances/${id}/logs?tail=50`);
    const lines = (logs.body as unknown as { lines?: string[] }).lines ?? [];
    t.true(logs.status === 200 && lines.some((line) => line.includes(`instances/${id}/config.yaml`)), `${id}: ${JSON.stringify(logs.body)}`);
  }

  const serverPids = [...onA.values(), ...onB.values()].flat();
  const rss = serverPids.reduce((sum, pid) => sum + rssMiB(pid), 0);
  const availableAfter = memAvailableMiB();
  t.log(
    `memory: ${INSTANCES} servers use ${Math.round(rss)} MiB RSS (${(rss / INSTANCES).toFixed(1)} MiB each); ` +
      `MemAvailable ${availableBefore} → ${availableAfter} MiB (−${availableBefore - availableAfter} MiB)`,
  );

  began = Date.now();
  const deleted = await mapLimit(ids, CONCURRENCY, (id) => call('DELETE', `/api/server/instances/${id}`));
  t.deepEqual(
    deleted.flatMap((response, i) => (response.status === 204 ? [] : [`${ids[i]}: ${response.status} ${JSON.stringify(response.body)}`])),
    [],
    log(),
  );
  t.log(`deleted ${INSTANCES} instances in ${Date.now() - began} ms`);
  // A DELETE answers once the server is gone, whichever worker runs it.
  t.is(countDoubles(a.dataDir) + countDoubles(b.dataDir), 0, 'no server outlives its DELETE');
  t.deepEqual(ids.filter((id) => [a, b].some((worker) => existsSync(path.join(worker.dataDir, 'instances', id)))), [], 'working directories removed');
  const listed = await call('GET', '/api/server/instances');
  t.deepEqual(listed.body, [] as unknown as typeof listed.body);
});
