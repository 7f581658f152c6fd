/**
 * A request overtaken by a later one is answered at once: honoured, or 409
 * "superseded by <the later request>"; never left to time out. Every
 * sequence of up to three lifecycle requests is sent while an instance is
 * Starting (a slow start) or Stopping (a slow stop), each instance its own
 * case, through the control plane with the in-memory driver.
 */
import test, { type ExecutionContext } from 'ava';
import { ControlPlane } from '../../src/actors/control-plane.js';
import { PlatformWorker } from '../../src/actors/platform-worker.js';
import { ConflictError, NotFoundError } from '../../src/errors.js';
import type { StopOptions, StopOutcome, WorkloadRef, WorkloadSpec } from '../../src/platforms/driver.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { MemoryDriver } from '../fixtures/memory-driver.js';

type Op = 'start' | 'stop' | 'restart' | 'delete';
const ops: readonly Op[] = ['start', 'stop', 'restart', 'delete'];

/** The lifecycle timeouts are ~34 s; every request must be answered well within this. */
const ANSWERED_WITHIN_MS = 5_000;

/** The memory driver, with starts and stops that wait, per instance, until a test releases them. */
class GatedDriver extends MemoryDriver {
  private readonly gates = new Map<string, Promise<void>>();

  hold(op: 'start' | 'stop', instanceId: string): () => void {
    let release!: () => void;
    const key = `${op}:${instanceId}`;
    this.gates.set(key, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.gates.delete(key);
      release();
    };
  }

  override async start(spec: WorkloadSpec): Promise<WorkloadRef> {
    await this.gates.get(`start:${spec.instanceId}`);
    return super.start(spec);
  }

  override async stop(instanceId: string, options: StopOptions): Promise<StopOutcome> {
    await this.gates.get(`stop:${instanceId}`);
    return super.stop(instanceId, options);
  }
}

async function setup(t: ExecutionContext) {
  const transport = new MemoryTransport();
  const driver = new GatedDriver();
  const worker = new PlatformWorker({ transport, driver, heartbeatMs: 60_000 });
  await worker.start();
  const controlPlane = new ControlPlane({
    transport,
    startTimeoutMs: 30_000,
    replySlackMs: 2_000,
    stopGraceMs: 100,
    restartPolicy: { initialBackoffMs: 60_000, maxBackoffMs: 240_000 },
  });
  await controlPlane.open();
  t.teardown(async () => {
    await controlPlane.close();
    await worker.close();
    await transport.close();
  });
  return { controlPlane, driver };
}

/** Every sequence of 1 to 3 requests. */
function sequences(): Op[][] {
  const all: Op[][] = [];
  const grow = (prefix: Op[]) => {
    if (prefix.length > 0) all.push(prefix);
    if (prefix.length < 3) for (const op of ops) grow([...prefix, op]);
  };
  grow([]);
  return all;
}

interface Answer {
  op: Op;
  ok: boolean;
  error?: unknown;
}

/** Lets the control plane take a request in before the next one is sent (the order of arrival is the point). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function waitForStatus(controlPlane: ControlPlane, id: string, status: string): Promise<void> {
  const end = Date.now() + ANSWERED_WITHIN_MS;
  while ((await controlPlane.status(id)).status !== status) {
    if (Date.now() > end) throw new Error(`${id} never became ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function send(controlPlane: ControlPlane, op: Op, id: string): Promise<Answer> {
  return controlPlane[op](id).then(
    () => ({ op, ok: true }),
    (error: unknown) => ({ op, ok: false, error }),
  );
}

/** All answers, or the ops still unanswered after the bound. */
async function answersWithin(requests: Array<Promise<Answer>>): Promise<Answer[] | 'unanswered'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'unanswered'>((resolve) => (timer = setTimeout(() => resolve('unanswered'), ANSWERED_WITHIN_MS)));
  try {
    return await Promise.race([Promise.all(requests), bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks one case: every request answered in time; each refused one names a later request; the last one honoured. */
async function checkCase(t: ExecutionContext, controlPlane: ControlPlane, driver: GatedDriver, id: string, sent: Op[], requests: Array<Promise<Answer>>): Promise<number> {
  const answers = await answersWithin(requests);
  if (answers === 'unanswered') {
    t.fail(`${id}: ${sent.join(', ')}: not every request was answered within ${ANSWERED_WITHIN_MS} ms`);
    return 0;
  }
  answers.forEach((answer, index) => {
    const later = sent.slice(index + 1);
    if (answer.ok) return;
    const error = answer.error;
    if (!(error instanceof ConflictError)) {
      t.fail(`${id}: ${answer.op} (#${index}) failed with ${String(error)}`);
      return;
    }
    const by = /superseded by (\w+)/.exec(error.message)?.[1];
    t.true(by !== undefined && later.includes(by as Op), `${id}: ${answer.op} (#${index}) says "${error.message}", naming a later request (${later.join(', ')})`);
    t.is(error.details['supersededBy'], by, `${id}: the problem carries the superseding request`);
  });
  const last = answers.at(-1);
  t.true(last?.ok, `${id}: the last request (${sent.at(-1)}) is honoured`);
  const lastOp = sent.at(-1);
  if (lastOp === 'delete') {
    await t.throwsAsync(controlPlane.status(id), { instanceOf: NotFoundError }, `${id}: deleted`);
    t.false(driver.running.has(id), `${id}: nothing runs after the delete`);
  } else if (lastOp === 'stop') {
    t.is((await controlPlane.status(id)).status, 'Stopped', `${id}: stopped`);
    t.false(driver.running.has(id), `${id}: nothing runs after the stop`);
  } else {
    t.is((await controlPlane.status(id)).status, 'Running', `${id}: running`);
    t.true(driver.running.has(id), `${id}: one workload runs`);
  }
  return answers.filter((answer) => !answer.ok).length;
}

test('every sequence of requests sent while Starting is answered at once, and the last one wins', async (t) => {
  const { controlPlane, driver } = await setup(t);
  const cases = sequences().map((sequence) => ({ id: `starting-${sequence.join('-')}`, sequence }));
  const running = cases.map(async ({ id, sequence }) => {
    await controlPlane.create({ name: id });
    const release = driver.hold('start', id);
    const requests = [send(controlPlane, 'start', id)];
    await waitForStatus(controlPlane, id, 'Starting');
    for (const op of sequence) {
      requests.push(send(controlPlane, op, id));
      await turn();
    }
    t.is((await controlPlane.status(id)).status, 'Starting', `${id}: every request arrived while Starting`);
    release();
    return checkCase(t, controlPlane, driver, id, ['start', ...sequence], requests);
  });
  const superseded = await Promise.all(running);
  t.is(cases.length, 4 + 16 + 64);
  t.true(superseded.reduce((sum, count) => sum + count, 0) > 0, 'some requests were superseded');
});

test('every sequence of requests sent while Stopping is answered at once, and the last one wins', async (t) => {
  const { controlPlane, driver } = await setup(t);
  const cases = sequences().map((sequence) => ({ id: `stopping-${sequence.join('-')}`, sequence }));
  const running = cases.map(async ({ id, sequence }) => {
    await controlPlane.create({ name: id });
    await controlPlane.start(id);
    const release = driver.hold('stop', id);
    const requests = [send(controlPlane, 'stop', id)];
    await waitForStatus(controlPlane, id, 'Stopping');
    for (const op of sequence) {
      requests.push(send(controlPlane, op, id));
      await turn();
    }
    t.is((await controlPlane.status(id)).status, 'Stopping', `${id}: every request arrived while Stopping`);
    release();
    return checkCase(t, controlPlane, driver, id, ['stop', ...sequence], requests);
  });
  const superseded = await Promise.all(running);
  t.is(cases.length, 4 + 16 + 64);
  t.true(superseded.reduce((sum, count) => sum + count, 0) > 0, 'some requests were superseded');
});

test('the issue\'s case: start, DELETE while Starting, then stop: the DELETE answers 409 "superseded by stop" at once', async (t) => {
  const { controlPlane, driver } = await setup(t);
  await controlPlane.create({ name: 'overtaken' });
  const release = driver.hold('start', 'overtaken');
  const start = send(controlPlane, 'start', 'overtaken');
  await waitForStatus(controlPlane, 'overtaken', 'Starting');
  const deletion = send(controlPlane, 'delete', 'overtaken');
  await turn();
  const stop = send(controlPlane, 'stop', 'overtaken');
  // Answered while the start is still held: the stop decided it, not the workload.
  const deleted = await answersWithin([deletion]);
  t.not(deleted, 'unanswered');
  const error = deleted === 'unanswered' ? undefined : deleted[0]?.error;
  t.true(error instanceof ConflictError);
  t.is((error as ConflictError).status, 409);
  t.regex((error as Error).message, /^delete of instance "overtaken" superseded by stop: it is now Starting, desired Stopped$/);
  t.like((error as ConflictError).details, { state: 'Starting', desired: 'Stopped', supersededBy: 'stop' });
  release();
  const [started, stopped] = await Promise.all([start, stop]);
  t.false(started?.ok);
  t.regex(String((started?.error as Error).message), /superseded by delete/);
  t.true(stopped?.ok);
  t.is((await controlPlane.status('overtaken')).status, 'Stopped');
});
