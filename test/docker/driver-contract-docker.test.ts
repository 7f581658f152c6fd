/**
 * The driver contract (test/platforms/driver-contract.ts) against the Docker
 * driver and a real Docker Engine: containers of the locally imported test
 * image (the Drasi Server double), host networking, one test at a time.
 */
import type Docker from 'dockerode';
import { containerCreateOptions } from '../../src/platforms/docker-container-spec.js';
import { DockerDriver } from '../../src/platforms/docker.js';
import { dockerEngine, testWithDocker } from '../helpers/docker-engine.js';
import { testImage } from '../helpers/docker-image.js';
import { takePorts } from '../helpers/port-window.js';
import { drasiDoubleSpec, registerDriverContract, type DriverHarness } from '../platforms/driver-contract.js';
import { instanceName } from './_docker.js';

const { test } = testWithDocker('docker driver contract');

const startTimeoutMs = 30_000;

async function runningContainers(docker: Docker, instanceId: string): Promise<string[]> {
  const containers = await docker.listContainers({ filters: { name: [`^/draas-${instanceId}$`], status: ['running'] } });
  return containers.map((container) => container.Id);
}

const docker: DriverHarness = {
  name: 'docker',
  serial: true,
  capabilities: { recover: true, reap: false, availability: true },
  startTimeoutMs,
  platformOptions: { valid: { network: 'host', memoryMb: 256 }, invalid: [{ image: 'Not An Image!' }, { privileged: true }, { memoryMb: 8 }] },
  orphans: {
    fate: 'adopted',
    why: 'A container is recorded by its labels alone: recover adopts every running container labelled managed-by=draas; the control plane, which knows the instances, reports one without an instance record as an orphan and leaves it running.',
  },
  async open(t) {
    const engine = await dockerEngine();
    const image = await testImage(engine.docker);
    const ports = takePorts(20);
    const names: string[] = [];
    t.teardown(async () => {
      for (const name of names) await engine.docker.getContainer(`draas-${name}`).remove({ force: true }).catch(() => undefined);
    });
    const driverOnEngine = (): DockerDriver => {
      const created = new DockerDriver({ connection: { dockerHost: engine.host }, defaultImage: image, defaultNetwork: 'host', ports, graceMs: 2_000, healthIntervalMs: 50 });
      t.teardown(() => created.close());
      return created;
    };
    const kill = async (ref: { workloadId: string }): Promise<void> => {
      await engine.docker.getContainer(ref.workloadId).kill();
    };
    return {
      driver: driverOnEngine(),
      startedLine: /^\{"event":"started"/,
      instanceId: (prefix) => {
        const name = instanceName(prefix);
        names.push(name);
        return name;
      },
      spec: (instanceId, behaviour = {}) => drasiDoubleSpec(instanceId, behaviour, { startTimeoutMs }),
      running: (instanceId) => runningContainers(engine.docker, instanceId),
      kill,
      // A closed driver no longer follows the Engine's events; the exited container stays, as after a worker died.
      killUnwatched: kill,
      restart: async () => driverOnEngine(),
      makeOrphan: async (instanceId) => {
        const spec = drasiDoubleSpec(instanceId, {}, { startTimeoutMs });
        const container = await engine.docker.createContainer(containerCreateOptions(spec, { image, network: 'host' }, ports.max));
        await container.start();
      },
    };
  },
};

registerDriverContract(test, docker);
