/** The driver contract (driver-contract.ts) against the memory double: the reference the real drivers are held to. */
import test from 'ava';
import { DurableMemoryDriver, MemoryPlatform } from '../fixtures/memory-driver.js';
import { drasiDoubleSpec, registerDriverContract, type DriverHarness } from './driver-contract.js';

const startTimeoutMs = 2_000;

const memory: DriverHarness = {
  name: 'memory',
  capabilities: { recover: true, reap: false, availability: false },
  startTimeoutMs,
  platformOptions: { valid: {}, invalid: [{ image: 'ghcr.io/drasi-project/drasi-server:0.2.0' }] },
  orphans: {
    fate: 'adopted',
    why: 'The memory platform records each workload itself (as Docker labels a container): recover adopts every one that runs; the control plane tells orphans by their missing instance record.',
  },
  async open(t) {
    const machine = new MemoryPlatform();
    const driver = new DurableMemoryDriver('process', { machine });
    t.teardown(() => driver.close());
    let next = 0;
    const kill = async (ref: { instanceId: string; workloadId: string }): Promise<void> => {
      const workload = machine.current(ref.instanceId);
      if (workload?.ref.workloadId === ref.workloadId) machine.signal(workload, 'SIGKILL');
    };
    return {
      driver,
      startedLine: /^log of /,
      instanceId: (prefix) => `${prefix}-${++next}`,
      spec: (instanceId, behaviour = {}) => {
        const spec = drasiDoubleSpec(instanceId, behaviour, { startTimeoutMs });
        if (behaviour.badConfig) spec.env['MEMORY_DOUBLE_CONFIG_ERROR'] = 'Error: no plugin found for source kind `carrier-pigeon`';
        return spec;
      },
      running: async (instanceId) => machine.live().filter((workload) => workload.ref.instanceId === instanceId).map((workload) => workload.ref.workloadId),
      kill,
      // Workloads run on the platform, not in the driver: a closed driver simply no longer watches.
      killUnwatched: kill,
      restart: async () => {
        const restarted = new DurableMemoryDriver('process', { machine });
        t.teardown(() => restarted.close());
        return restarted;
      },
      makeOrphan: async (instanceId) => {
        machine.runOrphan(instanceId);
      },
    };
  },
};

registerDriverContract(test, memory);
