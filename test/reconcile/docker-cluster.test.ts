/**
 * Reconciliation on Docker in cluster mode: a cluster control plane and a
 * Docker worker (the library's `startClusterControlPlane` and
 * `startClusterWorker`) on a private Redis; the apply and the drift checks
 * travel the Redis transport to the Docker worker, which reaches the
 * container's component API on 127.0.0.1.
 */
import { startClusterControlPlane, startClusterWorker } from '../../src/cluster.js';
import { dockerEngine, testWithDocker } from '../helpers/docker-engine.js';
import { testImage } from '../helpers/docker-image.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { dockerPortRange, instanceName, removeContainersAfter } from '../docker/_docker.js';
import { httpCall, registerScenarios } from './_scenario.js';

const { test } = testWithDocker('docker reconciliation in cluster mode');
const reconcileIntervalMs = 500;

registerScenarios(test.serial, 'docker, cluster mode', {
  reconcileIntervalMs,
  name: instanceName,
  world: async (t, name) => {
    const engine = await dockerEngine();
    const image = await testImage(engine.docker);
    removeContainersAfter(t, engine.docker, name);
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    const worker = await startClusterWorker({
      platform: 'docker',
      dataDir: '.',
      drasiServer: 'unused',
      docker: { host: engine.host, image, network: 'host' },
      ports: dockerPortRange(),
      stopGraceMs: 2_000,
      redis: { url: redis.url },
    });
    t.teardown(() => worker.close());
    const controlPlane = await startClusterControlPlane({
      redis: { url: redis.url },
      reconcileIntervalMs,
      startTimeoutMs: 20_000,
      replySlackMs: 5_000,
      stopGraceMs: 2_000,
      restartPolicy: { initialBackoffMs: 300, maxBackoffMs: 2_000 },
    });
    t.teardown(() => controlPlane.close());
    const { url } = await controlPlane.listen({ port: 0 });
    return {
      call: httpCall(url),
      createFields: { platformType: 'docker' },
      kill: async (workloadId) => {
        await engine.docker.getContainer(workloadId).kill({ signal: 'SIGKILL' });
      },
    };
  },
});
