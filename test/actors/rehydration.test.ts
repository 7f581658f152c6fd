/**
 * A restarted control plane rehydrates every instance from its store: the
 * same workloads, not restarted, the recovery in each history; workloads that
 * died meanwhile are reported Failed and started again.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ControlPlane } from '../../src/actors/control-plane.js';
import { PlatformWorker } from '../../src/actors/platform-worker.js';
import { FileInstanceStore } from '../../src/store/file-store.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { MemoryDriver } from '../fixtures/memory-driver.js';
import { waitFor } from '../helpers/processes.js';

async function setup(t: import('ava').ExecutionContext) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-rehydrate-'));
  const transport = new MemoryTransport();
  const driver = new MemoryDriver();
  const worker = new PlatformWorker({ transport, driver, heartbeatMs: 60_000 });
  await worker.start();
  const open = async () => {
    const store = await FileInstanceStore.open(dir, { durable: false });
    const controlPlane = new ControlPlane({ transport, store, restartPolicy: { initialBackoffMs: 50, maxBackoffMs: 50 }, startTimeoutMs: 2_000, replySlackMs: 500 });
    await controlPlane.open();
    return { controlPlane, store };
  };
  t.teardown(async () => {
    await worker.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { driver, open };
}

test('a restarted control plane finds every instance in its state with the same workloads, none restarted', async (t) => {
  const { driver, open } = await setup(t);
  const first = await open();
  const names = Array.from({ length: 20 }, (_, i) => `inst-${i}`);
  for (const name of names) await first.controlPlane.create({ name });
  const before = new Map<string, string>();
  for (const name of names.slice(0, 15)) before.set(name, (await first.controlPlane.start(name)).runtime!.workloadId);
  await first.controlPlane.stop('inst-14');
  await first.controlPlane.patchConfig('inst-0', [{ op: 'add', path: '/sources', value: [] }], { updateStrategy: 'manual' });
  await first.controlPlane.close();
  await first.store.close();

  driver.reads.list = 0;
  driver.reads.inspect = 0;
  const second = await open();
  t.teardown(async () => {
    await second.controlPlane.close();
    await second.store.close();
  });
  const views = await second.controlPlane.list();
  t.is(views.length, 20);
  t.like(driver.reads, { list: 1, inspect: 0 }, 'the restored Running instances checked with one list of their worker');
  for (const name of names.slice(0, 14)) {
    const view = views.find((v) => v.id === name)!;
    t.is(view.status, 'Running', name);
    t.is(view.runtime?.workloadId, before.get(name), `${name} runs the same workload`);
  }
  t.like(views.find((v) => v.id === 'inst-14'), { status: 'Stopped', desiredState: 'Stopped' });
  t.like(views.find((v) => v.id === 'inst-15'), { status: 'Pending' });
  t.like(views.find((v) => v.id === 'inst-0'), { generation: 2, observedGeneration: 1 });
  t.is(Math.max(...[...driver.startCount.values()]), 1, 'no workload was started twice');
  const status = await second.controlPlane.status('inst-3');
  t.like(status.history.at(-1), { from: 'Running', to: 'Running', cause: 'instance.recover' });
  // The restored actors are live: lifecycle requests work.
  t.is((await second.controlPlane.stop('inst-3')).status, 'Stopped');
  t.is((await second.controlPlane.start('inst-14')).status, 'Running');
});

test('a workload that died while the control plane was down is reported Failed after the restart and started again', async (t) => {
  const { driver, open } = await setup(t);
  const first = await open();
  await first.controlPlane.create({ name: 'gone' });
  const started = await first.controlPlane.start('gone');
  await first.controlPlane.close();
  await first.store.close();
  driver.running.delete('gone'); // it died silently while nobody watched

  const second = await open();
  t.teardown(async () => {
    await second.controlPlane.close();
    await second.store.close();
  });
  await waitFor(async () => (await second.controlPlane.get('gone')).runtime?.workloadId !== undefined && (await second.controlPlane.get('gone')).runtime?.workloadId !== started.runtime!.workloadId, 5_000, 'restarted');
  const history = (await second.controlPlane.status('gone')).history.map((entry) => `${entry.from}>${entry.to}:${entry.cause}`);
  t.true(history.includes('Running>Running:instance.recover'));
  t.true(history.includes('Running>Failed:workload.exited'));
  t.is((await second.controlPlane.get('gone')).status, 'Running');
});

test('a start resumed after a restart gets what is left of its deadline, not a fresh timeout', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-deadline-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const transport = new MemoryTransport();
  const driver = new MemoryDriver();
  let release: () => void = () => undefined;
  driver.startGate = new Promise((resolve) => {
    release = resolve;
  });
  t.teardown(() => release());
  // The same worker id twice (a restarted worker), so the resumed start is not queued behind the hung one.
  const worker = async () => {
    const started = new PlatformWorker({ transport, driver, workerId: 'process-deadline', heartbeatMs: 60_000 });
    await started.start();
    return started;
  };
  const open = async () => {
    const store = await FileInstanceStore.open(dir, { durable: false });
    const controlPlane = new ControlPlane({ transport, store, startTimeoutMs: 2_000, replySlackMs: 500 });
    await controlPlane.open();
    return { controlPlane, store };
  };
  const firstWorker = await worker();
  const first = await open();
  await first.controlPlane.create({ name: 'slow' });
  void first.controlPlane.start('slow').catch(() => undefined);
  await waitFor(() => driver.specs.length === 1, 2_000, 'the first start reached the driver');
  t.true(driver.specs[0]!.startTimeoutMs > 1_900, 'a fresh start gets (about) the whole start timeout');
  await first.controlPlane.close();
  await first.store.close();
  await firstWorker.close();
  await new Promise((resolve) => setTimeout(resolve, 1_000));

  const secondWorker = await worker();
  const second = await open();
  t.teardown(async () => {
    await second.controlPlane.close();
    await second.store.close();
    await secondWorker.close();
  });
  await waitFor(() => driver.specs.length === 2, 2_000, 'the recovered start reached the driver');
  // Deadline = first start + 2 000 ms + 2 × 500 ms of reply slack; a second later, about 1 000 ms are left for the driver.
  const resumed = driver.specs[1]!.startTimeoutMs;
  t.true(resumed <= 1_100 && resumed > 0, `the resumed start was given ${resumed} ms`);
  driver.startGate = undefined;
  release();
  await waitFor(async () => (await second.controlPlane.get('slow')).status === 'Running', 5_000, 'Running');
});
