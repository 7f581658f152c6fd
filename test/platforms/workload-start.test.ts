/**
 * The driver skeleton (workload-table.ts, workload-start.ts,
 * port-assignment.ts) without a platform: a launcher whose workloads are
 * plain records, made ready (or not) by the test — as a Kubernetes driver's
 * are by the platform's own readiness — on a fixed port.
 */
import test from 'ava';
import { BadRequestError, WorkloadFailedError } from '../../src/errors.js';
import type { WorkloadEvent, WorkloadExit, WorkloadSpec } from '../../src/platforms/driver.js';
import { FixedPort, HostPorts, type PortAssignment } from '../../src/platforms/port-assignment.js';
import { takePorts } from '../helpers/port-window.js';
import { startWorkload, type Readiness, type WorkloadLauncher } from '../../src/platforms/workload-start.js';
import { exitLatch, WorkloadTable, type TrackedWorkload } from '../../src/platforms/workload-table.js';

interface Fake extends TrackedWorkload {
  recordExit: (exit: WorkloadExit) => void;
  /** Resolves the readiness wait. */
  becomeReady: (readiness: Readiness) => void;
}

function spec(instanceId: string, overrides: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return { instanceId, generation: 1, config: {}, env: {}, startTimeoutMs: 1_000, ...overrides };
}

/** A launcher that records what the skeleton asked of it. */
function fakePlatform(ports: PortAssignment = new FixedPort(8080)) {
  const table = new WorkloadTable<Fake>({ ports, clock: () => Date.parse('2030-01-01T00:00:00Z') });
  const calls: string[] = [];
  const workloads: Fake[] = [];
  let next = 0;
  const exitOf = (workload: Fake, exit: Omit<WorkloadExit, 'requested'>): void => {
    const wasRunning = table.markExited(workload);
    const recorded = { ...exit, requested: workload.stopRequested };
    workload.recordExit(recorded);
    table.recordExit(workload, recorded, wasRunning);
  };
  const launcher: WorkloadLauncher<Fake, { image: string }> = {
    prepare: async (given) => {
      calls.push(`prepare ${given.instanceId}`);
      if (given.platformOptions?.['bad']) throw new BadRequestError('bad options');
      return { image: 'drasi' };
    },
    create: async (given, prepared, port) => {
      calls.push(`create ${given.instanceId} ${prepared.image} ${port}`);
      if (given.env['FAIL_CREATE']) throw new Error('the platform said no');
      const { exited, recordExit } = exitLatch();
      let becomeReady: (readiness: Readiness) => void = () => undefined;
      const ready = new Promise<Readiness>((resolve) => (becomeReady = resolve));
      const workload: Fake = {
        ref: { instanceId: given.instanceId, platform: 'kubernetes', workloadId: `w${++next}`, port, generation: given.generation, startedAt: table.now() },
        phase: 'starting',
        stopRequested: false,
        exitSignal: new AbortController(),
        exited,
        recordExit,
        becomeReady,
      };
      readiness.set(workload, ready);
      workloads.push(workload);
      table.track(workload);
      return workload;
    },
    createFailed: (error, given) => new WorkloadFailedError(`could not create ${given.instanceId}: ${String(error)}`),
    ready: async (workload, _spec, _prepared, signal) => {
      const aborted = new Promise<Readiness>((resolve) => signal.addEventListener('abort', () => resolve({ healthy: false, lastError: 'stopped waiting' }), { once: true }));
      return Promise.race([readiness.get(workload)!, aborted]);
    },
    onReady: async (workload) => {
      calls.push(`ready ${workload.ref.workloadId}`);
    },
    kill: async (workload) => {
      calls.push(`kill ${workload.ref.workloadId}`);
      exitOf(workload, { exitCode: null, signal: 'SIGKILL', lastLogLines: ['killed'] });
    },
    settle: (workload) => workload.exited,
    describeEarlyExit: (exit) => `exited with ${exit.exitCode}`,
  };
  const readiness = new Map<Fake, Promise<Readiness>>();
  return { table, launcher, calls, workloads, exitOf };
}

test('a start resolves once the platform says ready; a second, concurrent or later, gets the same ref', async (t) => {
  const { table, launcher, calls, workloads } = fakePlatform();
  const first = startWorkload(table, spec('a'), undefined, launcher);
  const second = startWorkload(table, spec('a'), undefined, launcher);
  while (workloads.length === 0) await new Promise((resolve) => setImmediate(resolve));
  workloads[0]!.becomeReady({ healthy: true });
  const ref = await first;
  t.deepEqual(await second, ref);
  t.deepEqual(await startWorkload(table, spec('a', { generation: 2 }), undefined, launcher), ref);
  t.like(ref, { instanceId: 'a', port: 8080, generation: 1 });
  t.deepEqual(calls, ['prepare a', 'create a drasi 8080', 'ready w1']);
  t.deepEqual(table.list(), [ref]);
  t.false(table.starting('a'));
});

test('not ready in time: the workload is killed, the start fails with the reason and the exit facts, the port is free', async (t) => {
  const ports = takePorts(2);
  const { table, launcher, calls, workloads } = fakePlatform(new HostPorts(ports));
  const starting = startWorkload(table, spec('slow', { startTimeoutMs: 250 }), undefined, launcher);
  while (workloads.length === 0) await new Promise((resolve) => setImmediate(resolve));
  workloads[0]!.becomeReady({ healthy: false, lastError: 'readyReplicas 0' });
  const error = await t.throwsAsync(starting, { instanceOf: WorkloadFailedError });
  t.is(error.message, 'the server did not become healthy within 250 ms (last probe: readyReplicas 0)');
  t.like(error.details, { exitCode: null, signal: 'SIGKILL', lastLogLines: ['killed'] });
  t.deepEqual(calls, ['prepare slow', `create slow drasi ${ports.min}`, 'kill w1']);
  t.like(table.lastExit('slow'), { exit: { requested: true } });
  t.deepEqual(table.list(), []);
  // The port was released: another instance may require it.
  const other = startWorkload(table, spec('other', { preferredPort: ports.min }), undefined, launcher);
  while (workloads.length === 1) await new Promise((resolve) => setImmediate(resolve));
  workloads[1]!.becomeReady({ healthy: true });
  t.is((await other).port, ports.min);
});

test('an exit during the start fails it as the platform describes it, without a kill', async (t) => {
  const { table, launcher, calls, workloads, exitOf } = fakePlatform();
  const events: WorkloadEvent[] = [];
  table.watch((event) => events.push(event));
  const starting = startWorkload(table, spec('crash'), undefined, launcher);
  while (workloads.length === 0) await new Promise((resolve) => setImmediate(resolve));
  exitOf(workloads[0]!, { exitCode: 1, signal: null, lastLogLines: ['Error: bad config'] });
  const error = await t.throwsAsync(starting, { instanceOf: WorkloadFailedError });
  t.is(error.message, 'exited with 1');
  t.like(error.details, { exitCode: 1, lastLogLines: ['Error: bad config'] });
  t.false(calls.some((call) => call.startsWith('kill')));
  t.deepEqual(events, [], 'a workload that never ran is no news for listeners');
});

test('an exit of a running workload reaches the listeners; an aborted start says so', async (t) => {
  const { table, launcher, workloads, exitOf } = fakePlatform();
  const events: WorkloadEvent[] = [];
  table.watch((event) => events.push(event));
  const starting = startWorkload(table, spec('runner'), undefined, launcher);
  while (workloads.length === 0) await new Promise((resolve) => setImmediate(resolve));
  workloads[0]!.becomeReady({ healthy: true });
  const ref = await starting;
  exitOf(workloads[0]!, { exitCode: 3, signal: null, lastLogLines: [] });
  t.like(events, [{ type: 'exited', instanceId: 'runner', ref, exit: { exitCode: 3, requested: false }, at: '2030-01-01T00:00:00.000Z' }]);

  const controller = new AbortController();
  const aborted = startWorkload(table, spec('aborted'), controller.signal, launcher);
  while (workloads.length === 1) await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  await t.throwsAsync(aborted, { instanceOf: WorkloadFailedError, message: 'the start of "aborted" was aborted' });
});

test('a failing prepare creates nothing and takes no port; a failing create gives the port back', async (t) => {
  const ports = takePorts(1);
  const { table, launcher, calls } = fakePlatform(new HostPorts(ports));
  await t.throwsAsync(startWorkload(table, spec('bad', { platformOptions: { bad: true } }), undefined, launcher), { instanceOf: BadRequestError });
  t.deepEqual(calls, ['prepare bad']);
  await t.throwsAsync(startWorkload(table, spec('refused', { env: { FAIL_CREATE: '1' } }), undefined, launcher), {
    instanceOf: WorkloadFailedError,
    message: 'could not create refused: Error: the platform said no',
  });
  // The range has one port: it is free again (else this would fail with "no port for the server").
  const error = await t.throwsAsync(startWorkload(table, spec('late', { env: { FAIL_CREATE: '1' } }), undefined, launcher), { instanceOf: WorkloadFailedError });
  t.regex(error.message, /could not create late/);
});

test('FixedPort hands every workload the same port unless one is required, and holds nothing', async (t) => {
  const fixed = new FixedPort(8080);
  t.is(await fixed.assign('a', {}), 8080);
  t.is(await fixed.assign('b', { preferred: 9000 }), 8080);
  t.is(await fixed.assign('c', { required: 9191 }), 9191);
  t.notThrows(() => fixed.hold());
  t.throws(() => new FixedPort(0), { instanceOf: RangeError });
});
