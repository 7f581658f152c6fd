/**
 * Model-based lifecycle paths on the memory driver: every transition of the
 * instance machine, taken through a real control plane, a memory transport
 * and a worker whose driver holds each launch and stop until the path lets
 * it go. Also the plan's own check: every event kind has a cause, every state
 * and transition a path.
 */
import test from 'ava';
import { PlatformWorker } from '../../src/actors/platform-worker.js';
import { MemoryInstanceStore } from '../../src/store/instance-store.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { ComponentServers } from './component-servers.js';
import { GatedMemoryDriver } from './gated-memory-driver.js';
import { actionNames, describePath, modelWorkerId, planPaths } from './lifecycle-paths.js';
import { runPath, type Platform } from './run-path.js';

const plan = planPaths();

test('the plan: every event kind of the machine has a cause, every state and transition a path', (t) => {
  t.deepEqual(plan.unmapped, [], `event kinds without an entry in causes (lifecycle-paths.ts): ${plan.unmapped.join(', ')}`);
  t.deepEqual(plan.unreached, [], `states no path reaches: ${plan.unreached.join(', ')}`);
  t.deepEqual(plan.uncovered, [], `transitions no path takes:\n${plan.uncovered.join('\n')}`);
  t.deepEqual(plan.staleImpossible, [], `entries of impossible that a path takes, or that name no transition: ${plan.staleImpossible.join(', ')}`);
  t.log(`${plan.paths.length} paths take ${plan.graph.transitions.length} transitions`);
});

const memory: Platform = {
  name: 'memory',
  actions: actionNames,
  timing: { startTimeoutMs: 3_000, replySlackMs: 300, stopGraceMs: 1_000 },
  async open(gates) {
    const transport = new MemoryTransport();
    const components = new ComponentServers(gates);
    await components.listen();
    const driver = new GatedMemoryDriver(gates, components);
    // Its presence never expires within a path: the worker is lost only when it closes (withdraws).
    const startWorker = async () => {
      const started = new PlatformWorker({ transport, driver, workerId: modelWorkerId, heartbeatMs: 60_000 });
      await started.start();
      return started;
    };
    let worker = await startWorker();
    return {
      transport,
      store: new MemoryInstanceStore(),
      createFields: () => ({}),
      // What a server serves: the generation of its source (a hot apply changes it, a drift removes it).
      servers: async (name) => {
        const ref = driver.running.get(name);
        const generation = ref ? components.generationOf(name) : undefined;
        return ref && generation !== undefined ? [{ workloadId: ref.workloadId, generation }] : [];
      },
      workloadCount: async (name) => (driver.running.has(name) ? 1 : 0),
      kill: async (name) => driver.crash(name),
      drift: async (name) => components.dropSource(name),
      loseWorker: () => worker.close(),
      returnWorker: async () => {
        worker = await startWorker();
      },
      close: async () => {
        await worker.close();
        await transport.close();
        await components.close();
      },
    };
  },
};

for (const path of plan.paths) {
  test(`memory path ${path.name}`, async (t) => {
    t.timeout(60_000);
    t.log(describePath(path).join('\n'));
    await runPath(t, memory, path);
  });
}
