/**
 * Re-adoption by a restarted process driver: a second ProcessDriver on the
 * same data dir adopts the servers the first one left running (verified by
 * pid, kernel start time and command line), reports the ones that died, and
 * never signals a pid it could not verify.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkloadEvent, WorkloadSpec } from '../../src/platforms/driver.js';
import { isPortBindable } from '../../src/platforms/port-allocator.js';
import { ProcessDriver, type ProcessDriverOptions } from '../../src/platforms/process.js';
import { processStartTime } from '../../src/platforms/workload-state.js';
import { takePorts } from '../helpers/port-window.js';
import { isAlive, pidsWithArgument, waitFor } from '../helpers/processes.js';
import { delay, doubleExecutable, isGone, tempDir } from './_support.js';

/** Disjoint 10-port ranges per test, from this file's own window (port-window.ts). */
function portRange(): { min: number; max: number } {
  return takePorts(10);
}

async function setup(t: ExecutionContext, options: Partial<ProcessDriverOptions> = {}) {
  const dataDir = await tempDir(t, 'draas-recovery-');
  const ports = portRange();
  /** A driver on the shared data dir, as a restarted control plane would create it. */
  const driver = () => {
    const created = new ProcessDriver({ dataDir, executable: doubleExecutable, ports, graceMs: 2_000, healthIntervalMs: 25, ...options });
    t.teardown(() => created.close());
    return created;
  };
  return { dataDir, driver };
}

function spec(instanceId: string, overrides: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return {
    instanceId,
    generation: 1,
    config: { id: instanceId, host: '127.0.0.1', logLevel: 'info', persistConfig: false, sources: [] },
    env: {},
    startTimeoutMs: 10_000,
    ...overrides,
  };
}

async function healthStatus(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/health`);
  await response.arrayBuffer();
  return response.status;
}

const instanceDir = (dataDir: string, id: string) => path.join(dataDir, 'instances', id);
const stateFile = (dataDir: string, id: string) => path.join(instanceDir(dataDir, id), 'workload.json');

/** An unrelated long-running process (killed after the test). */
function unrelatedProcess(t: ExecutionContext): number {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return child.pid!;
}

test('a second driver adopts a running server: same pid, running, healthy, no duplicate start, stop sends SIGINT', async (t) => {
  const { dataDir, driver } = await setup(t);
  const signalFile = path.join(dataDir, 'signals.txt');
  const first = driver();
  const ref = await first.start(spec('keep', { env: { DRASI_DOUBLE_SIGNAL_FILE: signalFile } }));
  const pid = Number(ref.workloadId);
  await first.close();

  const second = driver();
  t.deepEqual(await second.list(), [], 'nothing known before recover');
  t.deepEqual(await second.recover(), { adopted: [ref], lost: [] });
  t.deepEqual(await second.inspect('keep'), { state: 'running', ref });
  t.deepEqual(await second.list(), [ref]);
  t.is(await healthStatus(ref.port), 200);

  // Idempotent; no second process on a start.
  t.deepEqual(await second.recover(), { adopted: [], lost: [] });
  t.deepEqual(await second.start(spec('keep', { generation: 2 })), ref);
  t.deepEqual(pidsWithArgument(path.join(instanceDir(dataDir, 'keep'), 'config.yaml')), [pid]);
  // Its port is reserved.
  await t.throwsAsync(second.start(spec('rival', { preferredPort: ref.port })), { message: /already used by instance "keep"/ });
  // Its logs are readable.
  t.true((await second.logs('keep', { tail: 50 })).some((line) => line.startsWith('{"event":"started"')));

  const events: WorkloadEvent[] = [];
  second.watch((event) => events.push(event));
  const outcome = await second.stop('keep', { graceMs: 5_000 });
  t.like(outcome, { wasRunning: true, exit: { exitCode: null, signal: null, requested: true, details: { adopted: true, exitStatusUnknown: true } } });
  t.is(readFileSync(signalFile, 'utf8'), 'SIGINT\n');
  await waitFor(() => isGone(pid), 2_000, 'the adopted server is gone');
  t.false(existsSync(stateFile(dataDir, 'keep')));
  t.like(events, [{ type: 'exited', instanceId: 'keep', exit: { requested: true } }]);
  t.like(await second.inspect('keep'), { state: 'exited', exit: { requested: true } });
  t.deepEqual(await second.list(), []);
  t.deepEqual(await second.stop('keep', { graceMs: 1_000 }), { wasRunning: false });
  t.true(await isPortBindable(ref.port));
});

test('an adopted server killed by someone else is reported as exited within 2 s', async (t) => {
  const { dataDir, driver } = await setup(t);
  const first = driver();
  const ref = await first.start(spec('victim'));
  await first.close();
  const second = driver();
  await second.recover();
  const events: WorkloadEvent[] = [];
  second.watch((event) => events.push(event));

  const killedAt = Date.now();
  process.kill(Number(ref.workloadId), 'SIGKILL');
  await waitFor(() => events.length > 0, 2_000, 'exited event within 2 s');
  const took = Date.now() - killedAt;
  t.log(`adopted exit detected after ${took} ms`);
  t.true(took < 2_000);
  t.like(events[0], {
    type: 'exited',
    instanceId: 'victim',
    ref,
    exit: { exitCode: null, signal: null, requested: false, details: { adopted: true, exitStatusUnknown: true } },
  });
  if (events[0]?.type === 'exited') t.true(events[0].exit.lastLogLines.length > 0);
  t.like(await second.inspect('victim'), { state: 'exited', exit: { requested: false } });
  t.deepEqual(await second.list(), []);
  t.false(existsSync(stateFile(dataDir, 'victim')));
  // A new start launches a new server (the old one is gone).
  const next = await second.start(spec('victim'));
  t.not(next.workloadId, ref.workloadId);
});

test('an adopted server is removed like any other', async (t) => {
  const { dataDir, driver } = await setup(t);
  const first = driver();
  const ref = await first.start(spec('doomed'));
  await first.close();
  const second = driver();
  await second.recover();
  await second.remove('doomed', { graceMs: 2_000 });
  await waitFor(() => isGone(Number(ref.workloadId)), 2_000, 'the server is gone');
  t.false(existsSync(instanceDir(dataDir, 'doomed')));
  t.deepEqual(await second.inspect('doomed'), { state: 'absent' });
});

test('the log of an adopted server is bounded again', async (t) => {
  const maxBytes = 256 * 1024;
  const { dataDir, driver } = await setup(t, { logMaxBytes: maxBytes });
  const first = driver();
  await first.start(spec('chatty', { env: { DRASI_DOUBLE_FLOOD_FOREVER: '1', DRASI_DOUBLE_FLOOD_BYTES: String(16 * 1024) } }));
  await first.close();
  const log = path.join(instanceDir(dataDir, 'chatty'), 'server.log');
  await waitFor(() => statSync(log).size > 2 * maxBytes, 5_000, 'the log grows while nobody watches');
  const second = driver();
  t.is((await second.recover()).adopted.length, 1);
  // Eventually, not after a fixed delay: on a loaded machine the first rotation may come later, while the flood goes on.
  await waitFor(() => existsSync(`${log}.1`) && statSync(log).size <= 4 * maxBytes, 5_000, 'the adopted log is rotated and bounded');
  t.pass(`server.log is ${statSync(log).size} bytes after the rotation`);
});

test('a server that died while no driver ran is reported lost and its state file removed', async (t) => {
  const { dataDir, driver } = await setup(t);
  const first = driver();
  const ref = await first.start(spec('ghost'));
  const recorded = readFileSync(stateFile(dataDir, 'ghost'), 'utf8');
  // It dies while the control plane is down: the state file stays behind.
  await first.stop('ghost', { graceMs: 2_000 });
  await first.close();
  writeFileSync(stateFile(dataDir, 'ghost'), recorded);

  const second = driver();
  const events: WorkloadEvent[] = [];
  second.watch((event) => events.push(event));
  const report = await second.recover();
  t.deepEqual(report.adopted, []);
  t.is(report.lost.length, 1);
  t.like(report.lost[0], { instanceId: 'ghost', ref, exit: { exitCode: null, signal: null, requested: false, details: { reason: 'process gone' } } });
  t.true(report.lost[0]!.exit.lastLogLines.some((line) => /shutting down/.test(line)), 'with the last log lines');
  t.false(existsSync(stateFile(dataDir, 'ghost')));
  t.like(await second.inspect('ghost'), { state: 'exited', exit: { details: { reason: 'process gone' } } });
  t.deepEqual(await second.list(), []);
  t.deepEqual(events, [], 'lost workloads are reported by recover, not as events');
  t.deepEqual(await second.recover(), { adopted: [], lost: [] }, 'reported once');
});

test('a pid reused by an unrelated process is never adopted nor signalled', async (t) => {
  const { dataDir, driver } = await setup(t);
  const first = driver();
  await first.start(spec('wrong-time'));
  await first.start(spec('wrong-cmdline'));
  await first.stop('wrong-time', { graceMs: 2_000 });
  await first.stop('wrong-cmdline', { graceMs: 2_000 });
  await first.close();

  const sleeper = unrelatedProcess(t);
  await waitFor(() => processStartTime(sleeper) !== null, 2_000, 'sleep runs');
  const startTime = processStartTime(sleeper)!;
  const record = (id: string, processStartTime: number) =>
    writeFileSync(
      stateFile(dataDir, id),
      JSON.stringify({ instanceId: id, pid: sleeper, port: 19399, generation: 1, startedAt: new Date().toISOString(), processStartTime }),
    );
  // The pid of `sleep` with another start time (the recorded process is long gone) ...
  record('wrong-time', startTime - 1);
  // ... and with its real start time but a command line without the instance's config.
  record('wrong-cmdline', startTime);

  const second = driver();
  const report = await second.recover();
  t.deepEqual(report.adopted, []);
  t.deepEqual(
    report.lost.map((lost) => [lost.instanceId, lost.exit.details?.['reason']]),
    [
      ['wrong-cmdline', 'pid reused'],
      ['wrong-time', 'pid reused'],
    ],
  );
  t.false(existsSync(stateFile(dataDir, 'wrong-time')));
  t.false(existsSync(stateFile(dataDir, 'wrong-cmdline')));
  t.deepEqual(await second.stop('wrong-time', { graceMs: 100 }), { wasRunning: false });
  await second.remove('wrong-cmdline', { graceMs: 100 });
  await delay(300);
  t.true(isAlive(sleeper), 'the unrelated process was not signalled');
  t.is(processStartTime(sleeper), startTime);
});

test('an adopted server that ignores SIGINT is SIGKILLed with its group after graceMs', async (t) => {
  const { dataDir, driver } = await setup(t);
  const signalFile = path.join(dataDir, 'signals.txt');
  const first = driver();
  const ref = await first.start(spec('stubborn', { env: { DRASI_DOUBLE_IGNORE_SIGINT: '1', DRASI_DOUBLE_SIGNAL_FILE: signalFile } }));
  await first.close();
  const second = driver();
  await second.recover();
  const before = Date.now();
  const outcome = await second.stop('stubborn', { graceMs: 300 });
  const took = Date.now() - before;
  t.true(took >= 300 && took < 3_000, `took ${took} ms`);
  t.like(outcome, { wasRunning: true, exit: { requested: true, details: { adopted: true } } });
  t.is(readFileSync(signalFile, 'utf8'), 'SIGINT\n', 'SIGINT came first');
  await waitFor(() => isGone(Number(ref.workloadId)), 2_000, 'the server is gone');
});

test('a server started mid-start by a driver that died (launched, never recorded) is killed at recovery and reported lost', async (t) => {
  const { dataDir, driver } = await setup(t);
  const first = driver();
  // A start the worker died in the middle of: the server runs, the state file says it never became healthy.
  const ref = await first.start(spec('mid-start'));
  const recorded = JSON.parse(readFileSync(stateFile(dataDir, 'mid-start'), 'utf8')) as Record<string, unknown>;
  writeFileSync(stateFile(dataDir, 'mid-start'), JSON.stringify({ ...recorded, phase: 'starting' }));
  // And one it launched but did not even record: its command line is all that says it is ours.
  const configPath = path.join(instanceDir(dataDir, 'unrecorded'), 'config.yaml');
  await first.start(spec('unrecorded'));
  const unrecorded = pidsWithArgument(configPath)[0]!;
  writeFileSync(stateFile(dataDir, 'unrecorded'), '');

  const second = driver();
  const report = await second.recover();
  t.deepEqual(report.adopted, []);
  t.deepEqual(report.lost.map((lost) => [lost.instanceId, lost.exit.details?.reason]).sort(), [
    ['mid-start', 'start interrupted: killed'],
    ['unrecorded', 'untracked server (launched, never recorded): killed'],
  ]);
  await waitFor(() => !isAlive(Number(ref.workloadId)) && !isAlive(unrecorded), 5_000, 'both servers gone');
});
