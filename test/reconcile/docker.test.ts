/**
 * Reconciliation on the Docker platform, embedded: containers of the test
 * image (the Drasi Server double as their server), host networking, the
 * server's component API reached on 127.0.0.1.
 */
import type { ExecutionContext } from 'ava';
import { testWithDocker } from '../helpers/docker-engine.js';
import { dockerControlPlane, instanceName, removeContainersAfter } from '../docker/_docker.js';
import { configurationChanges, crashRecovered, driftRepaired, failedCallRestarts, httpCall, type ScenarioWorld } from './_scenario.js';

const { test } = testWithDocker('docker reconciliation');
const reconcileIntervalMs = 500;

async function world(t: ExecutionContext, name: string): Promise<ScenarioWorld> {
  const { draas, docker } = await dockerControlPlane(t, { reconcileIntervalMs, restartPolicy: { initialBackoffMs: 300, maxBackoffMs: 2_000 } });
  removeContainersAfter(t, docker, name);
  const { url } = await draas.listen({ port: 0 });
  return {
    call: httpCall(url),
    createFields: { platformType: 'docker' },
    kill: async (workloadId) => {
      await docker.getContainer(workloadId).kill({ signal: 'SIGKILL' });
    },
  };
}

test.serial('docker: config changes reach the running container without a restart where they can, with one where they must', async (t) => {
  const name = instanceName('rc-changes');
  await configurationChanges(t, await world(t, name), name);
});

test.serial('docker: a query and reaction deleted on the server are put back within a reconcile interval', async (t) => {
  const name = instanceName('rc-drift');
  await driftRepaired(t, await world(t, name), name, reconcileIntervalMs);
});

test.serial('docker: a component call the server refuses makes the change a restart', async (t) => {
  const name = instanceName('rc-refused');
  await failedCallRestarts(t, await world(t, name), name);
});

test.serial('docker: a killed container is Failed, backs off and runs again', async (t) => {
  const name = instanceName('rc-crash');
  await crashRecovered(t, await world(t, name), name);
});
