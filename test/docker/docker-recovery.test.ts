/**
 * Worker restarts on the Docker platform, against a real Docker Engine:
 * `draas up --platforms docker` is SIGKILLed with a container running and
 * started again on the same data dir; the container is re-adopted by its
 * labels without being restarted. A container with our label but no instance
 * record is reported as an orphan and left alone.
 */
import type { ResultPromise } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { InstanceView } from '../../src/api/instance-view.js';
import { containerCreateOptions } from '../../src/platforms/docker-container-spec.js';
import { dockerEngine, testWithDocker } from '../helpers/docker-engine.js';
import { testImage } from '../helpers/docker-image.js';
import { draasUp, json } from '../helpers/draas-up.js';
import { waitFor } from '../helpers/processes.js';
import { health } from '../helpers/http-api.js';
import { dockerPortRange, inspectContainer, instanceName, removeContainersAfter } from './_docker.js';

const { test } = testWithDocker('docker recovery');
function up(dataDir: string, dockerHost: string, image: string, ports: { min: number; max: number }) {
  return draasUp(['--data-dir', dataDir, '--platforms', 'docker', '--docker-host', dockerHost, '--docker-image', image, '--docker-network', 'host', '--ports', `${ports.min}-${ports.max}`]);
}

function post(base: string, route: string, body?: unknown): Promise<InstanceView> {
  return json<InstanceView>(fetch(base + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) }));
}

test.serial('a restarted worker re-adopts a running container by its labels without restarting it; an unrecorded container is reported as an orphan', async (t) => {
  t.timeout(120_000);
  const { docker, host } = await dockerEngine();
  const image = await testImage(docker);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-docker-restart-'));
  const ports = dockerPortRange();
  const name = instanceName('keep');
  const orphan = instanceName('orphan');
  removeContainersAfter(t, docker, name, orphan);
  const children: ResultPromise[] = [];
  t.teardown(async () => {
    for (const child of children) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  const first = up(dataDir, host, image, ports);
  children.push(first.child);
  const base = await first.url;
  await post(base, '/api/server/instances', { name, platformType: 'docker' });
  const started = await post(base, `/api/server/instances/${name}/start`);
  t.is(started.status, 'Running');
  const before = await inspectContainer(docker, `draas-${name}`);

  // A container of ours (by label) that no instance record knows.
  const orphanPort = ports.max;
  const created = await docker.createContainer(
    containerCreateOptions({ instanceId: orphan, generation: 1, config: {}, env: {}, startTimeoutMs: 0 }, { image, network: 'host' }, orphanPort),
  );
  await created.start();

  first.child.kill('SIGKILL');
  await first.child;

  const second = up(dataDir, host, image, ports);
  children.push(second.child);
  const base2 = await second.url;
  const view = await json<InstanceView>(fetch(`${base2}/api/server/instances/${name}`));
  t.is(view.status, 'Running');
  t.is(view.runtime!.workloadId, before!.Id, 'the same container');
  const after = await inspectContainer(docker, `draas-${name}`);
  t.is(after!.Id, before!.Id);
  t.is(after!.State.StartedAt, before!.State.StartedAt, 'not restarted');
  t.true(after!.State.Running);
  t.is(await health(view.runtime!.port), 200);

  await waitFor(() => second.output().includes(`instance "${orphan}"`), 10_000, 'the orphan is reported');
  t.regex(second.output(), new RegExp(`orphan workload: docker ${created.id} of instance "${orphan}" .* has no instance record; left running`));
  t.true((await inspectContainer(docker, `draas-${orphan}`))!.State.Running, 'the orphan is left running');

  // The adopted container is managed as before: a stop reaches it.
  const stopped = await post(base2, `/api/server/instances/${name}/stop`);
  t.is(stopped.status, 'Stopped');
  t.false((await inspectContainer(docker, `draas-${name}`))!.State.Running);
});
