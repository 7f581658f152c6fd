import test from 'ava';
import type { InstanceEventEnvelope } from '../../src/actors/control-plane.js';
import { DraasError } from '../../src/errors.js';
import { memoryControlPlane } from '../helpers/memory-api.js';

async function setup(t: import('ava').ExecutionContext, options: { worker?: boolean; startTimeoutMs?: number; replySlackMs?: number } = {}) {
  const parts = await memoryControlPlane(t, { replySlackMs: 500, restartBackoffMs: 50, ...options });
  const events: InstanceEventEnvelope[] = [];
  await parts.controlPlane.subscribe((event) => events.push(event));
  return { ...parts, events };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DraasError)) throw new Error(`expected a DraasError, got ${String(error)}`);
  return error.code;
}

const until = async (check: () => boolean | Promise<boolean>, timeoutMs = 3_000) => {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

test('create → start → stop → restart → delete drives the workload and forgets the instance', async (t) => {
  const { controlPlane, driver } = await setup(t);
  const created = await controlPlane.create({ name: 'alpha' });
  t.like(created, { id: 'alpha', status: 'Pending', desiredState: 'Stopped', platformType: 'process', generation: 1 });
  const started = await controlPlane.start('alpha');
  t.like(started, { status: 'Running', desiredState: 'Running', observedState: 'Running', observedGeneration: 1 });
  t.truthy(started.runtime?.workloadId);
  t.like(await controlPlane.stop('alpha'), { status: 'Stopped', runtime: null });
  const restarted = await controlPlane.restart('alpha');
  t.is(restarted.status, 'Running');
  t.not(restarted.runtime?.workloadId, started.runtime?.workloadId);
  await controlPlane.delete('alpha');
  t.is(driver.running.size, 0);
  t.is(await codeOf(controlPlane.get('alpha')), 'not-found');
  t.deepEqual(await controlPlane.list(), []);
});

test('20 concurrent starts of one instance start exactly one workload and all succeed', async (t) => {
  const { controlPlane, driver } = await setup(t);
  await controlPlane.create({ name: 'busy' });
  let release!: () => void;
  driver.startGate = new Promise((resolve) => (release = resolve));
  const starts = Array.from({ length: 20 }, () => controlPlane.start('busy'));
  setTimeout(() => release(), 50);
  const results = await Promise.all(starts);
  t.true(results.every((view) => view.status === 'Running'));
  t.is(driver.startCount.get('busy'), 1);
  t.is(driver.calls.filter((call) => call.op === 'start').length, 1);
});

test('start and delete racing on one instance end Deleted with nothing running and no record', async (t) => {
  const { controlPlane, driver } = await setup(t);
  await controlPlane.create({ name: 'racer' });
  let release!: () => void;
  driver.startGate = new Promise((resolve) => (release = resolve));
  const start = controlPlane.start('racer').then(
    () => 'started',
    (error: unknown) => (error instanceof DraasError ? error.code : 'other'),
  );
  const deletion = controlPlane.delete('racer');
  release();
  await deletion;
  t.is(await start, 'conflict', 'the start was superseded by the delete');
  t.is(driver.running.size, 0);
  t.is(await controlPlane.store.get('racer'), undefined);
});

test('a name that is taken, invalid, or a config that is invalid is refused and nothing is created', async (t) => {
  const { controlPlane } = await setup(t);
  await controlPlane.create({ name: 'taken' });
  t.is(await codeOf(controlPlane.create({ name: 'taken' })), 'conflict');
  t.is(await codeOf(controlPlane.create({ name: 'Not_A_Label' })), 'bad-request');
  t.is(await codeOf(controlPlane.create({ name: 'x'.repeat(41) })), 'bad-request');
  t.is(await codeOf(controlPlane.create({ name: 'ok', platformType: 'mainframe' })), 'bad-request');
  t.is(await codeOf(controlPlane.create({ name: 'bad-config', configuration: { log_level: 'info' } })), 'invalid-config');
  t.deepEqual((await controlPlane.list()).map((view) => view.id), ['taken']);
});

test('stop of a Pending instance is refused with 409 naming the state', async (t) => {
  const { controlPlane } = await setup(t);
  await controlPlane.create({ name: 'fresh' });
  const error = await controlPlane.stop('fresh').catch((e: unknown) => e);
  t.true(error instanceof DraasError);
  t.is((error as DraasError).status, 409);
  t.is((error as DraasError).details.state, 'Pending');
});

test('no live worker: start fails fast with 503 and the instance is Failed; a Pending delete needs no worker', async (t) => {
  const { controlPlane } = await setup(t, { worker: false, startTimeoutMs: 60_000 });
  await controlPlane.create({ name: 'lonely' });
  const began = Date.now();
  t.is(await codeOf(controlPlane.start('lonely')), 'no-live-worker');
  // Fast: not after the minute-long start deadline (bounds generous, as test machines are loaded).
  t.true(Date.now() - began < 10_000);
  t.is((await controlPlane.get('lonely')).status, 'Failed');
  await controlPlane.create({ name: 'never-started' });
  await controlPlane.delete('never-started');
  t.is(await codeOf(controlPlane.get('never-started')), 'not-found');
});

test('a worker that does not answer in time yields 504', async (t) => {
  const { controlPlane, driver } = await setup(t, { startTimeoutMs: 100, replySlackMs: 100 });
  await controlPlane.create({ name: 'slow' });
  driver.startGate = new Promise(() => undefined);
  t.is(await codeOf(controlPlane.start('slow')), 'worker-timeout');
});

test('a request still waiting when the control plane closes is answered at once with a retryable 503, not at its timeout', async (t) => {
  const { controlPlane, driver } = await setup(t, { startTimeoutMs: 60_000 });
  await controlPlane.create({ name: 'held' });
  driver.startGate = new Promise(() => undefined);
  const starting = controlPlane.start('held');
  await until(() => driver.calls.some((call) => call.op === 'start'));
  const closedAt = Date.now();
  await controlPlane.close();
  const error = await starting.then(() => undefined, (e: unknown) => e);
  t.true(error instanceof DraasError && error.code === 'unavailable' && error.retryable, String(error));
  t.regex(String((error as Error).message), /stopped acting for it before the request was answered; retry/);
  t.true(Date.now() - closedAt < 5_000, 'answered at the close');
});

test('a crash moves Running → Failed, publishes the change, and the instance is restarted with backoff', async (t) => {
  const { controlPlane, driver, events } = await setup(t);
  await controlPlane.create({ name: 'crashy' });
  const first = await controlPlane.start('crashy');
  driver.crash('crashy', 137);
  await until(() => events.some((event) => event.payload.to === 'Failed'));
  const failed = events.find((event) => event.payload.to === 'Failed')!;
  t.like(failed, { type: 'instance.status-changed', instanceId: 'crashy', payload: { from: 'Running', cause: 'workload.exited' } });
  t.regex(failed.payload.reason ?? '', /code 137/);
  await until(async () => (await controlPlane.get('crashy')).status === 'Running');
  const again = await controlPlane.get('crashy');
  t.not(again.runtime?.workloadId, first.runtime?.workloadId);
  const changes = await controlPlane.recentChanges({ instanceId: 'crashy' });
  t.deepEqual(
    changes.map((change) => change.to),
    ['Pending', 'Starting', 'Running', 'Failed', 'Starting', 'Running'],
  );
});

test('a config patch bumps the generation; a restart runs it; a bad patch changes nothing', async (t) => {
  const { controlPlane } = await setup(t);
  await controlPlane.create({ name: 'cfg', configuration: { sources: [{ kind: 'mock', id: 's1' }] } });
  await controlPlane.start('cfg');
  const patched = await controlPlane.patchConfig('cfg', [{ op: 'add', path: '/queries', value: [{ id: 'q1', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 's1' }] }] }]);
  t.is(patched.generation, 2);
  t.like(await controlPlane.get('cfg'), { generation: 2, observedGeneration: 1 });
  t.is(await codeOf(controlPlane.patchConfig('cfg', [{ op: 'remove', path: '/sources/0' }])), 'invalid-config');
  t.is(await codeOf(controlPlane.patchConfig('cfg', { op: 'add' })), 'bad-request');
  t.is((await controlPlane.getConfig('cfg')).generation, 2);
  const restarted = await controlPlane.restart('cfg');
  t.like(restarted, { generation: 2, observedGeneration: 2 });
});

test('observed-state reports become actor events; a report the machine refuses is a 409', async (t) => {
  const { controlPlane } = await setup(t);
  await controlPlane.create({ name: 'reported' });
  t.is(await codeOf(controlPlane.reportStatus({ instanceId: 'reported', status: 'Running' })), 'conflict');
  await controlPlane.start('reported');
  const view = await controlPlane.reportStatus({ instanceId: 'reported', status: 'Failed', source: 'monitor', message: 'probe failed' });
  t.is(view.status, 'Failed');
  t.regex(view.failure?.reason ?? '', /monitor reported Failed: probe failed/);
  t.is(await codeOf(controlPlane.reportStatus({ instanceId: 'reported', status: 'Exploded' })), 'bad-request');
  t.is(await codeOf(controlPlane.reportStatus({ instanceId: 'ghost', status: 'Running' })), 'not-found');
});
