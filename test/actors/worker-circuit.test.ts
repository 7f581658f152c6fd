/**
 * The control plane's circuit toward one worker (WorkloadClient), on the
 * memory transport and a simulated clock: unanswered commands open it, a
 * refused command fails at once with a 503 that says when to retry, the
 * half-open probe is a `workload.list` whose answer closes it (and whose
 * silence reopens it), error replies count as answers, placement passes over
 * an open worker, and a returning worker starts closed.
 */
import test from 'ava';
import { WorkloadClient } from '../../src/actors/workload-client.js';
import { DraasError, WorkerTimeoutError } from '../../src/errors.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { queues } from '../../src/transport/transport.js';

async function setup(workers: string[] = ['w1']) {
  let now = 1_000_000;
  const transport = new MemoryTransport({ now: () => now });
  /** What each worker does with a command: answer, fail, or never answer. */
  const behaviour = new Map<string, 'answer' | 'silent' | 'refuse'>();
  const seen: string[] = [];
  for (const workerId of workers) {
    behaviour.set(workerId, 'answer');
    await transport.presence.announce({ workerId, platform: 'process', available: true, details: { workloads: 0 } }, 3_600_000);
    await transport.consume(queues.workerCommands('process', workerId), async (command) => {
      seen.push(`${workerId}:${command.type}`);
      const mode = behaviour.get(workerId);
      if (mode === 'silent') return new Promise(() => undefined);
      if (mode === 'refuse') throw new DraasError('conflict', 'no');
      return command.type === 'workload.list' ? [] : { lines: [] };
    });
  }
  const client = new WorkloadClient(transport, 0, () => now, { circuit: { settings: { failureThreshold: 2, coolDownMs: 1_000, maxCoolDownMs: 4_000, jitter: 0 }, probeTimeoutMs: 50 } });
  const logs = (workerId = 'w1') => client.send('process', 'workload.logs', 'i1', { tail: 1 }, { workerId, timeoutMs: 50 });
  return { client, logs, behaviour, seen, advance: (ms: number) => (now += ms), state: (workerId = 'w1') => client.circuitStates().find((circuit) => circuit.workerId === workerId) };
}

test('unanswered commands open the circuit; then commands fail at once with 503 and Retry-After, unsent', async (t) => {
  const { logs, behaviour, seen, state } = await setup();
  await logs();
  t.like(state(), { status: 'closed', platform: 'process', name: 'worker w1' });
  behaviour.set('w1', 'silent');
  await t.throwsAsync(logs(), { instanceOf: WorkerTimeoutError });
  await t.throwsAsync(logs(), { instanceOf: WorkerTimeoutError });
  t.like(state(), { status: 'open', consecutiveFailures: 2 });
  const sent = seen.length;
  const refused = await t.throwsAsync<DraasError>(logs(), { instanceOf: DraasError });
  t.is(refused?.code, 'unavailable');
  t.is(refused?.status, 503);
  t.is(refused?.details['retryAfterSeconds'], 1);
  t.is(refused?.details['workerId'], 'w1');
  t.is(seen.length, sent, 'nothing was sent');
});

test('after the cool-down a workload.list probes: its answer closes the circuit and the command goes', async (t) => {
  const { logs, behaviour, seen, advance, state } = await setup();
  behaviour.set('w1', 'silent');
  await t.throwsAsync(logs());
  await t.throwsAsync(logs());
  behaviour.set('w1', 'answer');
  advance(1_000);
  seen.length = 0;
  t.deepEqual(await logs(), { lines: [] });
  t.deepEqual(seen, ['w1:workload.list', 'w1:workload.logs'], 'the probe first, then the command');
  t.like(state(), { status: 'closed', consecutiveFailures: 0 });
});

test('a silent probe reopens the circuit for twice the cool-down, and the command is refused unsent', async (t) => {
  const { logs, behaviour, seen, advance, state } = await setup();
  behaviour.set('w1', 'silent');
  await t.throwsAsync(logs());
  await t.throwsAsync(logs());
  advance(1_000);
  seen.length = 0;
  const refused = await t.throwsAsync<DraasError>(logs(), { instanceOf: DraasError });
  t.is(refused?.code, 'unavailable');
  t.deepEqual(seen, ['w1:workload.list'], 'only the probe went');
  const reopened = state()!;
  t.is(reopened.status, 'open');
  t.is(Date.parse(reopened.nextProbeAt!) - Date.parse(reopened.openedAt!), 2_000);
});

test('an error reply is an answer: it does not count against the worker', async (t) => {
  const { logs, behaviour, state } = await setup();
  behaviour.set('w1', 'refuse');
  for (let n = 0; n < 4; n++) await t.throwsAsync(logs(), { instanceOf: DraasError, message: 'no' });
  t.like(state(), { status: 'closed', consecutiveFailures: 0 });
});

test('placement passes over a worker whose circuit is open; with none left it fails fast; a returning worker starts closed', async (t) => {
  const { client, logs, behaviour, state } = await setup(['w1', 'w2']);
  behaviour.set('w1', 'silent');
  await t.throwsAsync(logs('w1'));
  await t.throwsAsync(logs('w1'));
  for (let n = 0; n < 10; n++) t.is(await client.place('process'), 'w2');
  behaviour.set('w2', 'silent');
  await t.throwsAsync(logs('w2'));
  await t.throwsAsync(logs('w2'));
  const none = await t.throwsAsync<DraasError>(client.place('process'), { instanceOf: DraasError });
  t.is(none?.code, 'unavailable');
  client.markReturned('w1');
  t.like(state('w1'), { status: 'closed', consecutiveFailures: 0 });
  t.is(await client.place('process'), 'w1');
});
