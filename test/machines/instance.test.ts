import test from 'ava';
import { readFileSync } from 'node:fs';
import { lifecycleDocument } from '../../src/machines/lifecycle-document.js';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { createInstanceMachine, restartBackoffMs, type InstanceEvent } from '../../src/machines/instance.js';
import { toRestorable, type RestorableSnapshot } from '../../src/machines/instance-snapshot.js';
import type { WorkloadRef } from '../../src/platforms/driver.js';
import type { StopWorkloadOutput } from '../../src/machines/instance-types.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function ref(workloadId: string, generation = 1): WorkloadRef {
  return { instanceId: 'i1', platform: 'process', workloadId, port: 9000, generation, startedAt: new Date(0).toISOString() };
}

/** A machine whose side effects are deferreds the test settles by hand. */
function harness(options: { startTimeoutMs?: number; historyLimit?: number; snapshot?: RestorableSnapshot; clock?: SimulatedClock } = {}) {
  const clock = options.clock ?? new SimulatedClock();
  const starts: Deferred<WorkloadRef>[] = [];
  const stops: Deferred<StopWorkloadOutput>[] = [];
  const removes: Deferred<StopWorkloadOutput>[] = [];
  const machine = createInstanceMachine({ now: () => clock.now() }).provide({
    actors: {
      startWorkload: fromPromise(() => {
        const d = deferred<WorkloadRef>();
        starts.push(d);
        return d.promise;
      }),
      stopWorkload: fromPromise(() => {
        const d = deferred<StopWorkloadOutput>();
        stops.push(d);
        return d.promise;
      }),
      removeWorkload: fromPromise(() => {
        const d = deferred<StopWorkloadOutput>();
        removes.push(d);
        return d.promise;
      }),
    },
  });
  const actor = createActor(machine, {
    clock,
    ...(options.snapshot ? { snapshot: options.snapshot } : {}),
    input: {
      instanceId: 'i1',
      platform: 'process',
      startTimeoutMs: options.startTimeoutMs ?? 5_000,
      restartPolicy: { initialBackoffMs: 1_000, maxBackoffMs: 8_000 },
      ...(options.historyLimit ? { historyLimit: options.historyLimit } : {}),
    },
  });
  actor.start();
  const state = () => actor.getSnapshot().value as string;
  const context = () => actor.getSnapshot().context;
  const send = (event: InstanceEvent) => actor.send(event);
  const can = (event: InstanceEvent) => actor.getSnapshot().can(event);
  return { clock, actor, starts, stops, removes, state, context, send, can };
}

function harnessFrom(snapshot: RestorableSnapshot, clock: SimulatedClock) {
  return harness({ snapshot, clock });
}

async function running(h: ReturnType<typeof harness>, workloadId = 'pid-1') {
  h.send({ type: 'instance.start' });
  h.starts.at(-1)!.resolve(ref(workloadId, h.context().generation));
  await flush();
}

const exited = (workloadId: string): InstanceEvent => ({
  type: 'workload.exited',
  workloadId,
  exitCode: null,
  signal: 'SIGKILL',
  lastLogLines: ['last words'],
});

test('a new instance is Pending with desired Stopped and generation 1', (t) => {
  const h = harness();
  t.is(h.state(), 'Pending');
  t.like(h.context(), { desired: 'Stopped', observed: 'None', generation: 1, observedGeneration: null });
  t.like(h.context().history[0], { from: null, to: 'Pending' });
});

test('start: Pending → Starting → Running once the workload is healthy', async (t) => {
  const h = harness();
  h.send({ type: 'instance.start' });
  t.is(h.state(), 'Starting');
  t.is(h.context().desired, 'Running');
  t.is(h.starts.length, 1);
  h.starts[0]!.resolve(ref('pid-1'));
  await flush();
  t.is(h.state(), 'Running');
  t.like(h.context(), { observed: 'Running', observedGeneration: 1, failure: null });
  t.is(h.context().workload?.workloadId, 'pid-1');
  t.deepEqual(
    h.context().history.map((entry) => [entry.from, entry.to, entry.cause]),
    [
      [null, 'Pending', 'created'],
      ['Pending', 'Starting', 'instance.start'],
      ['Starting', 'Running', 'startWorkload.done'],
    ],
  );
});

test('a second start while Starting or Running launches nothing new', async (t) => {
  const h = harness();
  h.send({ type: 'instance.start' });
  t.true(h.can({ type: 'instance.start' }));
  h.send({ type: 'instance.start' });
  h.starts[0]!.resolve(ref('pid-1'));
  await flush();
  h.send({ type: 'instance.start' });
  await flush();
  t.is(h.starts.length, 1);
  t.is(h.state(), 'Running');
});

test('stop and restart are refused while Pending; start is refused once Deleted', async (t) => {
  const h = harness();
  t.false(h.can({ type: 'instance.stop' }));
  t.false(h.can({ type: 'instance.restart' }));
  t.false(h.can(exited('x')));
  h.send({ type: 'instance.delete' });
  t.is(h.state(), 'Deleted');
  t.is(h.removes.length, 0, 'nothing ran, so no worker is asked');
  for (const type of ['instance.start', 'instance.stop', 'instance.restart', 'instance.delete'] as const) {
    t.false(h.can({ type }), type);
  }
  t.false(h.can({ type: 'instance.configure', generation: 5 }));
  t.is(h.actor.getSnapshot().status, 'done');
});

test('stop: Running → Stopping → Stopped; stopping a Stopped instance is accepted and does nothing', async (t) => {
  const h = harness();
  await running(h);
  h.send({ type: 'instance.stop' });
  t.is(h.state(), 'Stopping');
  h.stops[0]!.resolve({});
  await flush();
  t.is(h.state(), 'Stopped');
  t.like(h.context(), { desired: 'Stopped', observed: 'Stopped', workload: null });
  t.true(h.can({ type: 'instance.stop' }));
  h.send({ type: 'instance.stop' });
  t.is(h.stops.length, 1);
});

test('restart: Running → Stopping → Starting → Running with a new workload', async (t) => {
  const h = harness();
  await running(h, 'pid-1');
  h.send({ type: 'instance.restart' });
  t.is(h.state(), 'Stopping');
  h.stops[0]!.resolve({});
  await flush();
  t.is(h.state(), 'Starting');
  h.starts[1]!.resolve(ref('pid-2'));
  await flush();
  t.is(h.state(), 'Running');
  t.is(h.context().workload?.workloadId, 'pid-2');
});

test('restart from Stopped or Failed starts directly', async (t) => {
  const h = harness();
  await running(h);
  h.send({ type: 'instance.stop' });
  h.stops[0]!.resolve({});
  await flush();
  h.send({ type: 'instance.restart' });
  t.is(h.state(), 'Starting');
});

test('an unrequested exit of the current workload moves Running → Failed with the exit facts', async (t) => {
  const h = harness();
  await running(h, 'pid-1');
  h.send(exited('pid-0'));
  t.is(h.state(), 'Running', 'an exit of an older workload is ignored');
  h.send(exited('pid-1'));
  t.is(h.state(), 'Failed');
  t.like(h.context().failure, { signal: 'SIGKILL', exitCode: null, lastLogLines: ['last words'] });
  t.regex(h.context().failure!.reason, /exited unexpectedly with signal SIGKILL/);
  t.like(h.context(), { observed: 'Exited', workload: null, consecutiveFailures: 1 });
  t.like(h.context().history.at(-1), { from: 'Running', to: 'Failed', cause: 'workload.exited' });
});

test('Failed with desired Running restarts after an exponential backoff stored as an absolute deadline', async (t) => {
  const h = harness();
  await running(h, 'pid-1');
  h.send(exited('pid-1'));
  t.is(h.context().retryAt, h.clock.now() + 1_000);
  h.clock.increment(999);
  t.is(h.state(), 'Failed');
  h.clock.increment(1);
  t.is(h.state(), 'Starting');
  // The start fails: the second backoff is twice as long.
  h.starts[1]!.reject(new Error('boom'));
  await flush();
  t.is(h.state(), 'Failed');
  t.is(h.context().consecutiveFailures, 2);
  t.is(h.context().retryAt, h.clock.now() + 2_000);
  t.regex(h.context().failure!.reason, /start failed: boom/);
  h.clock.increment(2_000);
  t.is(h.state(), 'Starting');
  h.starts[2]!.resolve(ref('pid-3'));
  await flush();
  t.is(h.context().consecutiveFailures, 2, 'a start alone does not reset the count: a server that crashes soon after keeps backing off longer');
});

test('a crash soon after a start grows the backoff; one after a period of health counts as the first again; a stop resets the count', async (t) => {
  const h = harness();
  await running(h, 'pid-1');
  h.send(exited('pid-1'));
  h.clock.increment(1_000);
  h.starts[1]!.resolve({ ...ref('pid-2'), startedAt: new Date(h.clock.now()).toISOString() });
  await flush();
  h.clock.increment(5_000);
  h.send(exited('pid-2'));
  t.is(h.context().consecutiveFailures, 2, 'crashed 5 s after its start');
  t.is(h.context().retryAt, h.clock.now() + 2_000);
  h.clock.increment(2_000);
  h.starts[2]!.resolve({ ...ref('pid-3'), startedAt: new Date(h.clock.now()).toISOString() });
  await flush();
  h.clock.increment(60_000);
  h.send(exited('pid-3'));
  t.is(h.context().consecutiveFailures, 1, 'crashed after 60 s of health: a new count');
  t.is(h.context().retryAt, h.clock.now() + 1_000);
  h.send({ type: 'instance.stop' });
  await flush();
  h.stops[0]!.resolve({});
  await flush();
  t.is(h.state(), 'Stopped');
  t.is(h.context().consecutiveFailures, 0, 'a stop ends the count');
});

test('restartBackoffMs doubles and is capped', (t) => {
  const policy = { initialBackoffMs: 1_000, maxBackoffMs: 8_000 };
  t.deepEqual([1, 2, 3, 4, 5, 50].map((n) => restartBackoffMs(n, policy)), [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
});

test('stop while Failed cancels the automatic restart', async (t) => {
  const h = harness();
  await running(h);
  h.send(exited('pid-1'));
  h.send({ type: 'instance.stop' });
  t.is(h.state(), 'Stopping');
  h.stops[0]!.resolve({});
  await flush();
  t.is(h.state(), 'Stopped');
  h.clock.increment(60_000);
  t.is(h.state(), 'Stopped');
  t.is(h.starts.length, 1);
});

test('the start deadline moves Starting → Failed when the workload never becomes healthy', async (t) => {
  const h = harness({ startTimeoutMs: 3_000 });
  h.send({ type: 'instance.start' });
  t.is(h.context().startDeadline, h.clock.now() + 3_000);
  h.clock.increment(3_000);
  t.is(h.state(), 'Failed');
  t.regex(h.context().failure!.reason, /not running within 3000 ms/);
  t.like(h.context().history.at(-1), { cause: 'deadline' });
});

test('a start failure keeps the reported exit code and log lines', async (t) => {
  const h = harness();
  h.send({ type: 'instance.start' });
  const error = Object.assign(new Error('exited with code 1'), {
    code: 'workload-failed',
    details: { exitCode: 1, signal: null, lastLogLines: ['Error: bad config'] },
  });
  h.starts[0]!.reject(error);
  await flush();
  t.like(h.context().failure, { exitCode: 1, signal: null, lastLogLines: ['Error: bad config'], details: { code: 'workload-failed' } });
});

test('stop during Starting waits for the start, then stops the workload it produced', async (t) => {
  const h = harness();
  h.send({ type: 'instance.start' });
  h.send({ type: 'instance.stop' });
  t.is(h.state(), 'Starting');
  t.is(h.context().desired, 'Stopped');
  h.starts[0]!.resolve(ref('pid-1'));
  await flush();
  t.is(h.state(), 'Stopping');
  h.stops[0]!.resolve({});
  await flush();
  t.is(h.state(), 'Stopped');
});

test('delete during Starting waits for the start, then removes the workload', async (t) => {
  const h = harness();
  h.send({ type: 'instance.start' });
  h.send({ type: 'instance.delete' });
  h.starts[0]!.resolve(ref('pid-1'));
  await flush();
  t.is(h.state(), 'Deleting');
  h.removes[0]!.resolve({});
  await flush();
  t.is(h.state(), 'Deleted');
});

test('start during Stopping starts again once the stop completed', async (t) => {
  const h = harness();
  await running(h);
  h.send({ type: 'instance.stop' });
  h.send({ type: 'instance.start' });
  h.stops[0]!.resolve({});
  await flush();
  t.is(h.state(), 'Starting');
});

test('delete: Running → Deleting → Deleted (final)', async (t) => {
  const h = harness();
  await running(h);
  h.send({ type: 'instance.delete' });
  t.is(h.state(), 'Deleting');
  t.false(h.can({ type: 'instance.start' }), 'start is refused while Deleting');
  t.true(h.can({ type: 'instance.delete' }), 'a second delete joins the first');
  h.removes[0]!.resolve({});
  await flush();
  t.is(h.state(), 'Deleted');
  t.is(h.actor.getSnapshot().status, 'done');
});

test('a failed delete is Failed with desired Deleted and does not restart; delete may be retried', async (t) => {
  const h = harness();
  await running(h);
  h.send({ type: 'instance.delete' });
  h.removes[0]!.reject(new Error('no live worker'));
  await flush();
  t.is(h.state(), 'Failed');
  t.is(h.context().desired, 'Deleted');
  t.regex(h.context().failure!.reason, /delete failed/);
  h.clock.increment(120_000);
  t.is(h.state(), 'Failed');
  h.send({ type: 'instance.delete' });
  t.is(h.state(), 'Deleting');
});

test('configure bumps the generation; a running workload keeps its observed generation', async (t) => {
  const h = harness();
  await running(h);
  h.send({ type: 'instance.configure', generation: 2 });
  t.like(h.context(), { generation: 2, observedGeneration: 1 });
  t.false(h.can({ type: 'instance.configure', generation: 2 }), 'a generation never goes back');
  h.send({ type: 'instance.restart' });
  h.stops[0]!.resolve({});
  await flush();
  h.starts[1]!.resolve(ref('pid-2', 2));
  await flush();
  t.is(h.context().observedGeneration, 2);
});

test('observed reports: Running keeps Running, Stopped/Failed fail it, nonsense is refused', async (t) => {
  const h = harness();
  t.false(h.can({ type: 'observed.report', status: 'Running', source: 'probe' }), 'refused while Pending');
  await running(h);
  h.send({ type: 'observed.report', status: 'Running', source: 'probe' });
  t.is(h.state(), 'Running');
  h.send({ type: 'observed.report', status: 'Stopped', source: 'probe', message: 'gone' });
  t.is(h.state(), 'Failed');
  t.regex(h.context().failure!.reason, /probe reported Stopped: gone/);
});

test('the history is bounded, newest kept', async (t) => {
  const h = harness({ historyLimit: 4 });
  await running(h);
  for (let i = 0; i < 5; i++) {
    h.send({ type: 'instance.stop' });
    h.stops.at(-1)!.resolve({});
    await flush();
    await running(h, `pid-${i + 2}`);
  }
  t.is(h.context().history.length, 4);
  t.is(h.context().history.at(-1)!.to, 'Running');
});

test('docs/lifecycle.md shows the current machine', (t) => {
  const onDisk = readFileSync(new URL('../../docs/lifecycle.md', import.meta.url), 'utf8');
  t.is(onDisk, lifecycleDocument(), 'run `npm run docs:lifecycle` and commit docs/lifecycle.md');
  t.regex(onDisk, /Running --> Failed: workload\.exited \[isCurrentWorkload\]/);
});

test('a restored snapshot re-enters Starting on recover: the start is sent again and the absolute deadline kept', async (t) => {
  const h = harness({ startTimeoutMs: 10_000 });
  h.send({ type: 'instance.start' });
  const deadline = h.context().startDeadline!;
  h.clock.increment(4_000);
  const persisted = toRestorable(JSON.parse(JSON.stringify(h.actor.getPersistedSnapshot())), 'i1');
  h.actor.stop();

  const restored = harnessFrom(persisted, h.clock);
  t.is(restored.state(), 'Starting');
  restored.send({ type: 'instance.recover' });
  t.is(restored.starts.length, 1, 'the start is asked for again');
  t.is(restored.context().startDeadline, deadline, 'the deadline is the same absolute time');
  t.like(restored.context().history.at(-1), { from: 'Starting', to: 'Starting', cause: 'instance.recover' });
  restored.clock.increment(5_999);
  t.is(restored.state(), 'Starting');
  restored.clock.increment(1);
  t.is(restored.state(), 'Failed', 'the deadline fired at its original time');
});

test('a restored Failed instance restarts at its original retry time; a restored Running one only notes the recovery', async (t) => {
  const h = harness();
  await running(h);
  h.send(exited('pid-1'));
  const retryAt = h.context().retryAt!;
  h.clock.increment(400);
  const restored = harnessFrom(toRestorable(JSON.parse(JSON.stringify(h.actor.getPersistedSnapshot())), 'i1'), h.clock);
  h.actor.stop();
  restored.send({ type: 'instance.recover' });
  t.is(restored.context().retryAt, retryAt);
  restored.clock.increment(599);
  t.is(restored.state(), 'Failed');
  restored.clock.increment(1);
  t.is(restored.state(), 'Starting');

  const up = harness();
  await running(up, 'pid-9');
  const again = harnessFrom(toRestorable(JSON.parse(JSON.stringify(up.actor.getPersistedSnapshot())), 'i1'), up.clock);
  again.send({ type: 'instance.recover' });
  t.is(again.state(), 'Running');
  t.is(again.context().workload?.workloadId, 'pid-9');
  t.like(again.context().history.at(-1), { from: 'Running', to: 'Running', cause: 'instance.recover' });
  t.throws(() => toRestorable({ value: 'Exploded', context: {} }, 'i1'), { message: /unknown state/ });
});
