/**
 * A platform worker recovers its driver's workloads before it consumes any
 * command, and reports the workloads that died meanwhile as exits.
 */
import test from 'ava';
import { PlatformWorker } from '../../src/actors/platform-worker.js';
import type { RecoveryReport, WorkloadRef, WorkloadSpec } from '../../src/platforms/driver.js';
import type { EventEnvelope } from '../../src/transport/envelope.js';
import { newCommand } from '../../src/transport/envelope.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { queues, topics } from '../../src/transport/transport.js';
import { MemoryDriver } from '../fixtures/memory-driver.js';
import { waitFor } from '../helpers/processes.js';

const lostRef: WorkloadRef = { instanceId: 'gone', platform: 'process', workloadId: '4242', port: 18500, generation: 2, startedAt: '2024-01-01T00:00:00.000Z' };

class RecoveringDriver extends MemoryDriver {
  readonly order: string[] = [];

  async recover(): Promise<RecoveryReport> {
    this.order.push('recover');
    return {
      adopted: [],
      lost: [
        {
          instanceId: 'gone',
          ref: lostRef,
          exit: { exitCode: null, signal: null, lastLogLines: ['bye'], requested: false, details: { reason: 'process gone' } },
        },
      ],
    };
  }

  override async start(spec: WorkloadSpec): Promise<WorkloadRef> {
    this.order.push(`start ${spec.instanceId}`);
    return super.start(spec);
  }
}

test('the worker recovers before consuming commands and publishes lost workloads as workload.exited', async (t) => {
  const transport = new MemoryTransport();
  const driver = new RecoveringDriver();
  const messages: string[] = [];
  const worker = new PlatformWorker({ transport, driver, workerId: 'recovering', heartbeatMs: 60_000, log: (message) => messages.push(message) });
  t.teardown(() => worker.close());

  const events: EventEnvelope[] = [];
  await transport.subscribe(topics.workloadEvents, (event) => events.push(event));
  // A command already waiting in the queue is handled only after the recovery.
  const spec: WorkloadSpec = { instanceId: 'gone', generation: 3, config: {}, env: {}, startTimeoutMs: 1_000 };
  const started = transport.request(queues.workerCommands('process', 'recovering'), newCommand('workload.start', 'gone', spec), { timeoutMs: 5_000 });

  await worker.start();
  await started;
  await waitFor(() => events.length > 0, 2_000, 'the workload.exited event');
  t.deepEqual(driver.order, ['recover', 'start gone']);
  t.is(events.length, 1);
  t.like(events[0], {
    type: 'workload.exited',
    instanceId: 'gone',
    payload: { ref: lostRef, exit: { requested: false, lastLogLines: ['bye'], details: { reason: 'process gone' } }, workerId: worker.workerId },
  });
  t.true(messages.some((message) => /adopted 0, lost 1/.test(message)), messages.join('\n'));
});

test('a driver without recover starts as before', async (t) => {
  const transport = new MemoryTransport();
  const worker = new PlatformWorker({ transport, driver: new MemoryDriver(), heartbeatMs: 60_000 });
  t.teardown(() => worker.close());
  const events: EventEnvelope[] = [];
  await transport.subscribe(topics.workloadEvents, (event) => events.push(event));
  await worker.start();
  t.deepEqual(events, []);
});
