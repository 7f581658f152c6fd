/**
 * The Docker platform end to end against a real Docker Engine: HTTP on an
 * ephemeral port, an embedded control plane with a Docker worker, containers
 * of the locally imported test image (the Drasi Server double as the image's
 * server binary), host networking, only 127.0.0.1.
 */
import type { InstanceEventEnvelope } from '../../src/actors/control-plane.js';
import { testWithDocker } from '../helpers/docker-engine.js';
import { waitFor } from '../helpers/processes.js';
import { api, health } from '../helpers/http-api.js';
import { expectEveryHeartbeatOnce, followLog, heartbeats } from '../helpers/follow-stream.js';
import { dockerControlPlane, fileInContainer, inspectContainer, instanceName, removeContainersAfter } from './_docker.js';

const { test } = testWithDocker('docker http');

test.serial('walkthrough with platformType docker: create, start, stop, restart, delete; the container exists, runs, answers /health and is gone', async (t) => {
  const { draas, docker, image } = await dockerControlPlane(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const name = instanceName('walk');
  removeContainersAfter(t, docker, name);

  const created = await call('POST', '/api/server/instances', {
    name,
    platformType: 'docker',
    platformOptions: { memoryMb: 256, cpus: 0.5 },
    configuration: { sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }] },
  });
  t.is(created.status, 201);
  t.is(created.body.platformType, 'docker');
  t.deepEqual(created.body.platformOptions, { memoryMb: 256, cpus: 0.5 });
  t.is(await inspectContainer(docker, `draas-${name}`), undefined, 'no container before the start');

  const started = await call('POST', `/api/server/instances/${name}/start`);
  t.is(started.status, 200);
  t.is(started.body.status, 'Running');
  const container = await inspectContainer(docker, `draas-${name}`);
  t.truthy(container, 'the container exists');
  t.is(container!.Id, started.body.runtime!.workloadId);
  t.true(container!.State.Running);
  t.is(container!.Config.Image, image);
  t.deepEqual(container!.Config.Cmd, ['--config', '/app/config/server.yaml', '--port', String(started.body.runtime!.port)]);
  t.is(container!.Config.WorkingDir, '/app');
  t.is((container!.Config as { StopSignal?: string }).StopSignal, 'SIGINT', 'the types omit it; the Engine reports it');
  t.like(container!.Config.Labels, { 'managed-by': 'draas', 'io.draas.instance-id': name, 'io.draas.generation': '1' });
  t.is(container!.HostConfig.RestartPolicy?.Name, 'no');
  t.is(container!.HostConfig.Memory, 256 * 1024 * 1024);
  t.is(container!.HostConfig.NanoCpus, 500_000_000);
  t.is(await health(started.body.runtime!.port), 200, '/health answers through the container port');
  const config = await fileInContainer(docker, `draas-${name}`, '/app/config/server.yaml');
  t.regex(config, new RegExp(`id: ${name}`));
  t.regex(config, /persistConfig: false/);
  const logs = await call('GET', `/api/server/instances/${name}/logs?tail=50`);
  t.is(logs.status, 200);
  t.true((logs.body as unknown as { lines: string[] }).lines.some((line) => line.includes('"event":"started"')), 'logs come from the container');

  const stopped = await call('POST', `/api/server/instances/${name}/stop`);
  t.is(stopped.body.status, 'Stopped');
  const afterStop = await inspectContainer(docker, `draas-${name}`);
  t.false(afterStop!.State.Running, 'the container no longer runs');
  t.is(afterStop!.State.ExitCode, 0, 'SIGINT: a graceful exit');

  const restarted = await call('POST', `/api/server/instances/${name}/restart`);
  t.is(restarted.body.status, 'Running');
  t.not(restarted.body.runtime!.workloadId, started.body.runtime!.workloadId, 'a fresh container');
  t.true((await inspectContainer(docker, `draas-${name}`))!.State.Running);
  t.is(await health(restarted.body.runtime!.port), 200);

  const deleted = await call('DELETE', `/api/server/instances/${name}`);
  t.is(deleted.status, 204);
  t.is(await inspectContainer(docker, `draas-${name}`), undefined, 'the container is gone');
  t.is((await call('GET', `/api/server/instances/${name}`)).status, 404);
});

test.serial('docker kill of the container → Failed within 2 seconds, through the events stream, with the exit code and OOM flag', async (t) => {
  const { draas, docker } = await dockerControlPlane(t, { restartPolicy: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 } });
  const name = instanceName('kill');
  removeContainersAfter(t, docker, name);
  const events: InstanceEventEnvelope[] = [];
  await draas.subscribe((event) => events.push(event));
  await draas.create({ name, platformType: 'docker' });
  const started = await draas.start(name);

  const killedAt = Date.now();
  await docker.getContainer(started.runtime!.workloadId).kill();
  await waitFor(() => events.some((event) => event.instanceId === name && event.payload.to === 'Failed'), 2_000, 'Failed event within 2 s');
  t.true(Date.now() - killedAt < 2_000);
  const view = await draas.get(name);
  t.is(view.status, 'Failed');
  t.is(view.failure?.exitCode, 137);
  t.is(view.failure?.signal, 'SIGKILL');
  t.like(view.failure?.details, { oomKilled: false, containerId: started.runtime!.workloadId });
  t.true(Array.isArray(view.failure?.lastLogLines) && view.failure.lastLogLines.length > 0, 'the last log lines come from the container');
  t.truthy(view.nextRetryAt, 'a restart is scheduled');
});

test.serial('an absent image that cannot be pulled → Failed with a clear reason, and nothing crashes', async (t) => {
  const { draas, docker } = await dockerControlPlane(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const name = instanceName('nopull');
  removeContainersAfter(t, docker, name);
  const image = 'registry.invalid/draas-test/absent:1.0';
  await call('POST', '/api/server/instances', { name, platformType: 'docker', platformOptions: { image } });

  const start = await call('POST', `/api/server/instances/${name}/start`);
  t.is(start.status, 502);
  t.regex(String(start.body.detail), /image registry\.invalid\/draas-test\/absent:1\.0 is not present and could not be pulled: \S+/);
  const view = await call('GET', `/api/server/instances/${name}`);
  t.is(view.body.status, 'Failed');
  t.regex(view.body.failure?.reason ?? '', /could not be pulled/);
  t.is(await inspectContainer(docker, `draas-${name}`), undefined, 'no container was created');
  t.is((await call('GET', '/healthz')).status, 200);
  // The worker still takes commands: the same instance can be deleted.
  t.is((await call('DELETE', `/api/server/instances/${name}`)).status, 204);
});

test.serial('a config change followed by a restart yields a container running the new generation (label and config file)', async (t) => {
  const { draas, docker } = await dockerControlPlane(t);
  const name = instanceName('gen');
  removeContainersAfter(t, docker, name);
  await draas.create({ name, platformType: 'docker', configuration: { sources: [{ kind: 'mock', id: 'first' }] } });
  const first = await draas.start(name);
  t.is((await inspectContainer(docker, `draas-${name}`))!.Config.Labels['io.draas.generation'], '1');

  await draas.patchConfig(name, [{ op: 'add', path: '/sources/-', value: { kind: 'mock', id: 'second' } }]);
  const restarted = await draas.restart(name);
  t.like(restarted, { status: 'Running', generation: 2, observedGeneration: 2 });
  t.not(restarted.runtime!.workloadId, first.runtime!.workloadId);
  const container = await inspectContainer(docker, `draas-${name}`);
  t.is(container!.Id, restarted.runtime!.workloadId);
  t.is(container!.Config.Labels['io.draas.generation'], '2');
  const config = await fileInContainer(docker, `draas-${name}`, '/app/config/server.yaml');
  t.regex(config, /id: second/);
  const sources = await fetch(`http://127.0.0.1:${restarted.runtime!.port}/api/v1/sources`);
  t.regex(await sources.text(), /second/, 'the running server serves the new source');
});

test.serial('follow a container log: new lines once and in order (identical ones too), a marker at a restart, the end at delete', async (t) => {
  const { draas, docker } = await dockerControlPlane(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const name = instanceName('follow');
  removeContainersAfter(t, docker, name);
  await call('POST', '/api/server/instances', {
    name,
    platformType: 'docker',
    environment: { DRASI_DOUBLE_LOG_INTERVAL_MS: '40', DRASI_DOUBLE_ECHO_LINE: 'same' },
  });
  t.is((await call('POST', `/api/server/instances/${name}/start`)).body.status, 'Running');
  const log = await followLog(`${url}/api/server/instances/${name}/logs?follow=true&tail=1`);
  t.teardown(() => log.disconnect());
  t.is(log.status, 200);
  await expectEveryHeartbeatOnce(t, log, 10, 'same');

  const restarted = await call('POST', `/api/server/instances/${name}/restart`);
  const marker = await log.until((line) => line.startsWith('— new workload'));
  t.is(log.lines[marker], `— new workload ${restarted.body.runtime!.workloadId.slice(0, 12)} (generation 1) started —`);
  await log.until((line) => log.lines.indexOf(line) > marker && line.includes('heartbeat #2:'));
  t.deepEqual(heartbeats(log.lines.slice(marker + 1)).slice(0, 2), [1, 2], 'the new container from its first line');

  t.is((await call('DELETE', `/api/server/instances/${name}`)).status, 204);
  await log.ended();
  t.is(log.lines.at(-1), `— instance "${name}" was deleted —`);
});
