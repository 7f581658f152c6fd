/**
 * Reconciliation on the Docker platform, embedded: containers of the test
 * image (the Drasi Server double as their server), host networking, the
 * server's component API reached on 127.0.0.1.
 */
import { testWithDocker } from '../helpers/docker-engine.js';
import { dockerControlPlane, instanceName, removeContainersAfter } from '../docker/_docker.js';
import { httpCall, registerScenarios } from './_scenario.js';

const { test } = testWithDocker('docker reconciliation');
const reconcileIntervalMs = 500;

registerScenarios(test.serial, 'docker', {
  reconcileIntervalMs,
  name: instanceName,
  world: async (t, name) => {
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
  },
});
