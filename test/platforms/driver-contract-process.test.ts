/** The driver contract (driver-contract.ts) against the process driver, running the Drasi Server double as a child process. */
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ProcessDriver } from '../../src/platforms/process.js';
import { takePorts } from '../helpers/port-window.js';
import { pidsWithArgumentAsync, waitFor } from '../helpers/processes.js';
import { doubleExecutable, tempDir } from './_support.js';
import { drasiDoubleSpec, registerDriverContract, type DriverHarness } from './driver-contract.js';

const startTimeoutMs = 15_000;

const processes: DriverHarness = {
  name: 'process',
  capabilities: { recover: true, reap: true, availability: false },
  startTimeoutMs,
  platformOptions: { valid: {}, invalid: [{ image: 'ghcr.io/drasi-project/drasi-server:0.2.0' }, { memoryMb: 256 }] },
  orphans: {
    fate: 'killed',
    why: 'A server of the data dir that no workload.json recorded was launched by a worker that died before recording it: nobody waits for its start, so recover kills it and reports it lost.',
  },
  async open(t) {
    const dataDir = await tempDir(t, 'draas-contract-');
    const ports = takePorts(10);
    const driverOnDataDir = (): ProcessDriver => {
      const created = new ProcessDriver({ dataDir, executable: doubleExecutable, ports, graceMs: 2_000, healthIntervalMs: 25, adoptedPollMs: 100 });
      // Registered after tempDir's teardown, so it runs first (ava runs teardowns in reverse order).
      t.teardown(() => created.close());
      return created;
    };
    const driver = driverOnDataDir();
    const instanceDir = (instanceId: string) => path.join(dataDir, 'instances', instanceId);
    const stateFile = (instanceId: string) => path.join(instanceDir(instanceId), 'workload.json');
    const spec = (instanceId: string, behaviour = {}) => drasiDoubleSpec(instanceId, behaviour, { startTimeoutMs });
    let next = 0;
    return {
      driver,
      startedLine: /^\{"event":"started"/,
      instanceId: (prefix) => `${prefix}-${++next}`,
      spec,
      running: async (instanceId) => (await pidsWithArgumentAsync(path.join(instanceDir(instanceId), 'config.yaml'))).map(String),
      kill: async (ref) => {
        process.kill(Number(ref.workloadId), 'SIGKILL');
      },
      killUnwatched: async (ref) => {
        // In this one test process the closed driver still sees its child exit and deletes the record;
        // a worker that died would have left it: put it back.
        const recorded = readFileSync(stateFile(ref.instanceId));
        process.kill(Number(ref.workloadId), 'SIGKILL');
        await waitFor(() => !existsSync(stateFile(ref.instanceId)), 5_000, 'the exit recorded');
        writeFileSync(stateFile(ref.instanceId), recorded);
      },
      restart: async () => driverOnDataDir(),
      makeOrphan: async (instanceId) => {
        // Launched, never recorded: what a worker killed between the launch and the state file leaves.
        await driver.start(spec(instanceId));
        writeFileSync(stateFile(instanceId), '');
      },
    };
  },
};

registerDriverContract(test, processes);
