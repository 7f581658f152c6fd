/**
 * The embedded control plane end to end: real HTTP on an ephemeral port, real
 * child processes (the Drasi Server double as the executable).
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { InstanceEventEnvelope } from '../../src/actors/control-plane.js';
import { embedded } from '../helpers/embedded.js';
import { api, health } from '../helpers/http-api.js';
import { isAlive, pidsWithArgument, waitFor } from '../helpers/processes.js';

test('walkthrough: create, start, stop, restart, delete over HTTP with real processes', async (t) => {
  const { draas, dataDir } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const signalFile = path.join(dataDir, 'signals-test1.txt');

  const created = await call('POST', '/api/server/instances', {
    name: 'test1',
    configuration: { sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }] },
    environment: { DRASI_DOUBLE_SIGNAL_FILE: signalFile },
  });
  t.is(created.status, 201);
  t.is(created.headers.get('location'), '/api/server/instances/test1');

  const started = await call('POST', '/api/server/instances/test1/start');
  t.is(started.status, 200);
  t.is(started.body.status, 'Running');
  const pid = Number(started.body.runtime!.workloadId);
  const port = started.body.runtime!.port;
  t.true(isAlive(pid), 'the child exists');
  t.is(await health(port), 200, '/health answers on the allocated port');
  const instanceDir = path.join(dataDir, 'instances', 'test1');
  t.true(existsSync(instanceDir));
  const config = readFileSync(path.join(instanceDir, 'config.yaml'), 'utf8');
  t.regex(config, /id: test1/);
  t.regex(config, /persistConfig: false/);

  const stopped = await call('POST', '/api/server/instances/test1/stop');
  t.is(stopped.status, 200);
  t.is(stopped.body.status, 'Stopped');
  t.false(isAlive(pid), 'the process is gone');
  t.regex(readFileSync(signalFile, 'utf8'), /SIGINT/, 'the server received SIGINT');

  const restarted = await call('POST', '/api/server/instances/test1/restart');
  t.is(restarted.body.status, 'Running');
  const newPid = Number(restarted.body.runtime!.workloadId);
  t.not(newPid, pid);
  t.true(isAlive(newPid));

  const deleted = await call('DELETE', '/api/server/instances/test1');
  t.is(deleted.status, 204);
  t.false(isAlive(newPid));
  t.false(existsSync(instanceDir), 'working directory removed');
  t.is((await call('GET', '/api/server/instances/test1')).status, 404);

  // The port is released: a new instance that asks for it gets it.
  await call('POST', '/api/server/instances', { name: 'reuse', serverConfiguration: { port: restarted.body.runtime!.port } });
  const reused = await call('POST', '/api/server/instances/reuse/start');
  t.is(reused.body.runtime?.port, restarted.body.runtime!.port);
});

test('two instances run side by side on different ports; 20 concurrent starts yield one process', async (t) => {
  const { draas, dataDir } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  await call('POST', '/api/server/instances', { name: 'one' });
  await call('POST', '/api/server/instances', { name: 'two', environment: { DRASI_DOUBLE_STARTUP_DELAY_MS: '300' } });
  const first = await call('POST', '/api/server/instances/one/start');
  const starts = await Promise.all(Array.from({ length: 20 }, () => call('POST', '/api/server/instances/two/start')));
  t.true(starts.every((response) => response.status === 200 && response.body.status === 'Running'));
  t.is(new Set(starts.map((response) => response.body.runtime!.workloadId)).size, 1);
  t.deepEqual(pidsWithArgument(path.join(dataDir, 'instances', 'two', 'config.yaml')), [Number(starts[0]!.body.runtime!.workloadId)]);
  t.not(first.body.runtime!.port, starts[0]!.body.runtime!.port);
  t.is(await health(first.body.runtime!.port), 200);
  t.is(await health(starts[0]!.body.runtime!.port), 200);
});

test('SIGKILL of the child moves the instance to Failed with the exit facts and publishes an event', async (t) => {
  const { draas } = await embedded(t, { restartPolicy: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 } });
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const events: InstanceEventEnvelope[] = [];
  await draas.subscribe((event) => events.push(event));
  await call('POST', '/api/server/instances', { name: 'victim' });
  const started = await call('POST', '/api/server/instances/victim/start');
  const pid = Number(started.body.runtime!.workloadId);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  await waitFor(() => events.some((event) => event.instanceId === 'victim' && event.payload.to === 'Failed'), 2_000, 'Failed event within 2 s');
  t.true(Date.now() - killedAt < 2_000);
  const view = await call('GET', '/api/server/instances/victim');
  t.is(view.body.status, 'Failed');
  t.is(view.body.failure?.signal, 'SIGKILL');
  t.regex(view.body.failure?.reason ?? '', /SIGKILL/);
  t.true(Array.isArray(view.body.failure?.lastLogLines));
  t.is(view.body.desiredState, 'Running');
  t.truthy(view.body.nextRetryAt, 'a restart is scheduled');
});

test('a server that prints megabytes to stdout keeps running and stays healthy', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  await call('POST', '/api/server/instances', { name: 'chatty', environment: { DRASI_DOUBLE_FLOOD_FOREVER: '1' } });
  const started = await call('POST', '/api/server/instances/chatty/start');
  t.is(started.body.status, 'Running');
  const port = started.body.runtime!.port;
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.is(await health(port), 200);
  }
  t.is((await call('GET', '/api/server/instances/chatty')).body.status, 'Running');
  const logs = await call('GET', '/api/server/instances/chatty/logs?tail=5');
  t.is(logs.status, 200);
  t.is((logs.body as unknown as { lines: string[] }).lines.length, 5);
});

test('a missing executable fails the start with a reason naming it, and nothing crashes', async (t) => {
  const { draas } = await embedded(t, { drasiServer: '/nonexistent/drasi-server' });
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  await call('POST', '/api/server/instances', { name: 'nobin' });
  const start = await call('POST', '/api/server/instances/nobin/start');
  t.is(start.status, 502);
  t.regex(String(start.body.detail), /\/nonexistent\/drasi-server/);
  const view = await call('GET', '/api/server/instances/nobin');
  t.is(view.body.status, 'Failed');
  t.regex(view.body.failure?.reason ?? '', /\/nonexistent\/drasi-server/);
  t.is((await call('GET', '/healthz')).status, 200);
});

test('the library API drives the same lifecycle without HTTP', async (t) => {
  const { draas } = await embedded(t);
  const events: string[] = [];
  await draas.subscribe((event) => events.push(`${event.payload.from ?? '-'}>${event.payload.to}`));
  await draas.create({ name: 'lib', configuration: { sources: [{ kind: 'mock', id: 's' }] } });
  const started = await draas.start('lib');
  t.is(started.status, 'Running');
  t.is(await health(started.runtime!.port), 200);
  // Kept for the restart (update strategy manual): the restart runs it.
  await draas.patchConfig('lib', [{ op: 'add', path: '/reactions', value: [] }], { updateStrategy: 'manual' });
  const restarted = await draas.restart('lib');
  t.like(restarted, { status: 'Running', generation: 2, observedGeneration: 2 });
  t.not(restarted.runtime!.workloadId, started.runtime!.workloadId);
  t.like(await draas.stop('lib'), { status: 'Stopped' });
  await draas.delete('lib');
  await t.throwsAsync(draas.get('lib'), { message: /not found/ });
  // Subscribers are fed from the change log: the last change arrives once it is recorded, just after delete() answers.
  await waitFor(() => events.at(-1) === 'Deleting>Deleted', 5_000, 'the Deleted change delivered');
  t.deepEqual(events, [
    '->Pending',
    'Pending>Starting',
    'Starting>Running',
    'Running>Stopping',
    'Stopping>Starting',
    'Starting>Running',
    'Running>Stopping',
    'Stopping>Stopped',
    'Stopped>Deleting',
    'Deleting>Deleted',
  ]);
});
