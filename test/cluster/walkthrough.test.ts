/**
 * Cluster mode, end to end: the walkthrough of test/e2e/embedded-http.test.ts
 * with the control plane and a process worker as separate OS processes that
 * meet on a private Redis.
 */
import type { ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  eventually,
  health,
  isAlive,
  outputs,
  ports,
  redisServer,
  startControlPlane,
  startWorker,
  waitForWorker,
  type ControlPlaneProcess,
  type WorkerProcess,
} from './_harness.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

async function cluster(t: ExecutionContext, ports: { min: number; max: number }, workerId: string) {
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: 20_000, stopGraceMs: 3_000 });
  const worker = await startWorker(t, redis.url, { workerId, ports, stopGraceMs: 3_000 });
  await waitForWorker(controlPlane, worker);
  return { controlPlane, worker, call: controlPlane.call };
}

function logs(controlPlane: ControlPlaneProcess, worker: WorkerProcess): string {
  return outputs(controlPlane.process, worker.process);
}

test.serial('walkthrough over Redis: create, start, stop, restart, delete with the worker in another process', async (t) => {
  t.timeout(120_000);
  const range = ports(20);
  const { controlPlane, worker, call } = await cluster(t, range, 'walk-1');
  const log = () => logs(controlPlane, worker);
  const signalFile = path.join(worker.dataDir, 'signals-test1.txt');

  const created = await call('POST', '/api/server/instances', {
    name: 'test1',
    configuration: { sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }] },
    environment: { DRASI_DOUBLE_SIGNAL_FILE: signalFile },
  });
  t.is(created.status, 201, log());
  t.is(created.body.status, 'Pending');

  const started = await call('POST', '/api/server/instances/test1/start');
  t.is(started.status, 200, `${JSON.stringify(started.body)}\n${log()}`);
  t.is(started.body.status, 'Running');
  const pid = Number(started.body.runtime!.workloadId);
  const port = started.body.runtime!.port;
  t.true(isAlive(pid), 'the child exists');
  t.true(port >= range.min && port <= range.max, `port ${port} is from the worker's range`);
  t.is(await health(port), 200, '/health answers on the allocated port');
  const instanceDir = path.join(worker.dataDir, 'instances', 'test1');
  t.true(existsSync(instanceDir), 'the working directory is in the worker\'s data dir');
  const config = readFileSync(path.join(instanceDir, 'config.yaml'), 'utf8');
  t.regex(config, /id: test1/);
  t.regex(config, /persistConfig: false/);
  t.is((await call('GET', '/api/server/instances/test1')).body.status, 'Running');

  const stopped = await call('POST', '/api/server/instances/test1/stop');
  t.is(stopped.status, 200, log());
  t.is(stopped.body.status, 'Stopped');
  t.false(isAlive(pid), 'the process is gone');
  t.regex(readFileSync(signalFile, 'utf8'), /SIGINT/, 'the server received SIGINT');

  const restarted = await call('POST', '/api/server/instances/test1/restart');
  t.is(restarted.status, 200, log());
  t.is(restarted.body.status, 'Running');
  const newPid = Number(restarted.body.runtime!.workloadId);
  t.not(newPid, pid);
  t.true(isAlive(newPid));
  t.is(await health(restarted.body.runtime!.port), 200);

  const deleted = await call('DELETE', '/api/server/instances/test1');
  t.is(deleted.status, 204, log());
  t.false(isAlive(newPid));
  t.false(existsSync(instanceDir), 'working directory removed');
  t.is((await call('GET', '/api/server/instances/test1')).status, 404);

  // The port is released: a new instance that asks for it gets it.
  await call('POST', '/api/server/instances', { name: 'reuse', serverConfiguration: { port: restarted.body.runtime!.port } });
  const reused = await call('POST', '/api/server/instances/reuse/start');
  t.is(reused.status, 200, log());
  t.is(reused.body.runtime?.port, restarted.body.runtime!.port);
});

test.serial('SIGKILL of the Drasi Server moves the instance to Failed: the exit crosses Redis as an event', async (t) => {
  t.timeout(120_000);
  const { controlPlane, worker, call } = await cluster(t, ports(20), 'walk-2');
  const log = () => logs(controlPlane, worker);
  t.is((await call('POST', '/api/server/instances', { name: 'victim' })).status, 201);
  const started = await call('POST', '/api/server/instances/victim/start');
  t.is(started.status, 200, log());
  const pid = Number(started.body.runtime!.workloadId);

  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  // The default restart policy retries after 1 s: poll GET often to see Failed before that.
  let failed: Awaited<ReturnType<typeof call>> | undefined;
  await eventually(
    async () => {
      const view = await call('GET', '/api/server/instances/victim', undefined, 5_000);
      if (view.body.status === 'Failed') failed = view;
      return failed !== undefined;
    },
    5_000,
    'GET shows Failed within 5 s of the SIGKILL',
    [controlPlane.process, worker.process],
    10,
  );
  t.log(`Failed observed ${Date.now() - killedAt} ms after the SIGKILL`);
  t.is(failed!.body.failure?.signal, 'SIGKILL');
  t.regex(failed!.body.failure?.reason ?? '', /SIGKILL/);
  t.true(Array.isArray(failed!.body.failure?.lastLogLines));
  t.is(failed!.body.desiredState, 'Running');
  t.truthy(failed!.body.nextRetryAt, 'a restart is scheduled');

  const status = await call('GET', '/api/status/victim/status');
  const history = (status.body as unknown as { history: { from: string | null; to: string }[] }).history;
  t.true(history.some((entry) => entry.from === 'Running' && entry.to === 'Failed'), JSON.stringify(history));

  // Desired is still Running: the worker starts a new server after the backoff.
  await eventually(
    async () => {
      const view = await call('GET', '/api/server/instances/victim', undefined, 5_000);
      return view.body.status === 'Running' && Number(view.body.runtime?.workloadId) !== pid;
    },
    30_000,
    'automatic restart after the crash',
    [controlPlane.process, worker.process],
  );
  const again = await call('GET', '/api/server/instances/victim');
  t.true(isAlive(Number(again.body.runtime!.workloadId)), log());
  t.is(await health(again.body.runtime!.port), 200);
  t.is((await call('DELETE', '/api/server/instances/victim')).status, 204);
});
