/**
 * What crosses the transport is checked, never cast: a worker refuses a
 * malformed command payload with a 400 answer (its driver never sees it), and
 * the control plane ignores a malformed worker event while a well-formed one
 * moves the instance.
 */
import test from 'ava';
import { queues, topics } from '../../src/transport/transport.js';
import { newCommand, newEvent } from '../../src/transport/envelope.js';
import { DraasError } from '../../src/errors.js';
import { memoryControlPlane } from '../helpers/memory-api.js';
import { waitFor } from '../helpers/processes.js';

test('a worker refuses a malformed command payload with bad-request, and its driver never sees it', async (t) => {
  const { transport, worker, driver } = await memoryControlPlane(t);
  const queue = queues.workerCommands('process', worker.workerId);
  const malformed = [
    newCommand('workload.start', 'x', { instanceId: 'x', generation: 'one', config: {}, env: {}, startTimeoutMs: 1_000 }),
    newCommand('workload.start', 'x', { instanceId: 'x', generation: 1, config: {}, env: { PORT: 80 }, startTimeoutMs: 1_000 }),
    newCommand('workload.stop', 'x', { graceMs: -1 }),
    newCommand('workload.logs', 'x', { tail: 'all' }),
    newCommand('workload.list', '*', { extra: true }),
  ];
  for (const command of malformed) {
    const error = await t.throwsAsync(transport.request(queue, command, { timeoutMs: 2_000 }));
    t.true(error instanceof DraasError && error.code === 'bad-request', `${command.type}: ${String(error)}`);
    t.regex(String(error?.message), new RegExp(`malformed ${command.type.replace('.', '\\.')} payload`));
  }
  t.deepEqual(driver.calls, [], 'the driver saw none of them');
});

test('a malformed workload event is ignored; a well-formed exit of the current workload makes the instance Failed', async (t) => {
  const { transport, controlPlane } = await memoryControlPlane(t);
  await controlPlane.create({ name: 'watched' });
  const running = await controlPlane.start('watched');
  const ref = { instanceId: 'watched', platform: 'process', workloadId: running.runtime!.workloadId, port: running.runtime!.port, generation: 1, startedAt: running.runtime!.startedAt };
  const exit = { exitCode: 1, signal: null, lastLogLines: ['boom'], requested: false };
  // Wrong types where the control plane reads them: no actor event comes of these.
  for (const payload of [
    { ref: { ...ref, workloadId: 7 }, exit, workerId: 'w' },
    { ref, exit: { ...exit, lastLogLines: 'boom' }, workerId: 'w' },
    { ref, exit },
    'not an object',
  ]) {
    await transport.publish(topics.workloadEvents, newEvent('workload.exited', 'watched', payload));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is((await controlPlane.get('watched')).status, 'Running');
  await transport.publish(topics.workloadEvents, newEvent('workload.exited', 'watched', { ref, exit, workerId: 'w' }));
  await waitFor(async () => (await controlPlane.get('watched')).status === 'Failed', 2_000, 'Failed after a well-formed exit');
  t.regex(String((await controlPlane.get('watched')).failure?.reason), /exited unexpectedly with code 1/);
});

test('a redelivered command runs once, except a list, which is read again rather than kept (it is as large as the fleet)', async (t) => {
  const { transport, worker, driver } = await memoryControlPlane(t);
  const queue = queues.workerCommands('process', worker.workerId);
  const start = newCommand('workload.start', 'twice', { instanceId: 'twice', generation: 1, config: {}, env: {}, startTimeoutMs: 1_000 });
  const list = newCommand('workload.list', '*', {});
  for (let delivery = 0; delivery < 2; delivery++) {
    await transport.request(queue, start, { timeoutMs: 2_000 });
    t.is((await transport.request(queue, list, { timeoutMs: 2_000 }) as unknown[]).length, 1);
  }
  t.is(driver.startCount.get('twice'), 1, 'the start ran once');
  t.is(driver.reads.list, 2, 'the list ran on each delivery');
});
