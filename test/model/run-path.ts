/**
 * Drives one planned lifecycle path through a real control plane on a
 * platform, and checks after every step that the API's view (status, desired,
 * observed, generations, the whole history) is the one the path expects, and
 * that the real workloads agree: one serving server of the expected
 * generation or none, never two processes of the instance, none at all while
 * Pending, Stopped or Deleted. Every request the path made must be answered
 * once the instance is at rest.
 */
import type { ExecutionContext } from 'ava';
import { ControlPlane, type ControlPlaneOptions } from '../../src/actors/control-plane.js';
import type { InstanceStatusView } from '../../src/api/instance-view.js';
import { DraasError, NotFoundError } from '../../src/errors.js';
import type { InstanceStore } from '../../src/store/instance-store.js';
import type { Transport } from '../../src/transport/transport.js';
import type { ActionName, Expectation, LifecyclePath } from './lifecycle-paths.js';
import { Gates, type GateKind, type Verdict } from './gates.js';

/** A server of the instance that serves, as the platform itself shows it. */
export interface Server {
  workloadId: string;
  generation: number;
}

/** One path's platform: what the control plane talks to, and how to look at and break the real workloads. */
export interface PathWorld {
  transport: Transport;
  store: InstanceStore;
  /** Extra fields of the create request (platform, environment). */
  createFields(name: string): Record<string, unknown>;
  /** Serving servers of the instance. */
  servers(name: string): Promise<Server[]>;
  /** Processes (or containers) of the instance, serving or not yet. */
  workloadCount(name: string): Promise<number>;
  /** Kills the running workload for real. */
  kill(name: string, workloadId: string): Promise<void>;
  /** Deletes the running server's source behind DRaaS's back (not held at the gates). */
  drift(name: string): Promise<void>;
  /** The worker (id `modelWorkerId`) goes away: it closes, leaving its workloads running. */
  loseWorker(): Promise<void>;
  /** A worker with the same id and the same driver (the same workloads) starts again. */
  returnWorker(): Promise<void>;
  /** Closes the worker and whatever the world made; kills what is left. */
  close(): Promise<void>;
}

export interface Platform {
  name: string;
  /** The actions this platform can perform (the rest are named in the suite with why not). */
  actions: readonly ActionName[];
  timing: { startTimeoutMs: number; replySlackMs: number; stopGraceMs: number };
  open(gates: Gates): Promise<PathWorld>;
}

const atRest = new Set(['Pending', 'Running', 'Stopped', 'Failed', 'Deleted']);
const noWorkload = new Set(['Pending', 'Stopped', 'Deleted']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface TrackedRequest {
  label: string;
  settled: boolean;
  abandoned: boolean;
  error?: unknown;
}

type Seen = Omit<Expectation, 'serverGeneration'>;

function seenOf(view: InstanceStatusView): Seen {
  return {
    status: view.status,
    desiredState: view.desiredState,
    observedState: view.observedState,
    generation: view.generation,
    observedGeneration: view.observedGeneration,
    history: view.history.map((entry) => [entry.from, entry.to, entry.cause]),
    // The conditions the model follows: WorkerLost while it holds (the others follow from the status and generations).
    conditions: view.conditions.filter((condition) => condition.type === 'WorkerLost' && condition.status === 'True').map((condition) => condition.type),
  };
}

function expected(expect: Expectation): Seen {
  const { serverGeneration: _server, ...rest } = expect;
  return rest;
}

let counter = 0;

/** A DNS-1123 name unique to this test process. */
export function pathInstanceName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${counter}`;
}

export async function runPath(t: ExecutionContext, platform: Platform, path: LifecyclePath): Promise<void> {
  const gates = new Gates();
  const world = await platform.open(gates);
  const name = pathInstanceName('m');
  const { startTimeoutMs, replySlackMs, stopGraceMs } = platform.timing;
  const backoff = path.timers === 'prompt' ? { initialBackoffMs: 300, maxBackoffMs: 600 } : { initialBackoffMs: 600_000, maxBackoffMs: 600_000 };
  const logs: string[] = [];
  const log = (line: string) => logs.push(`${new Date().toISOString()} ${line}`);
  // The worker watch checks often, so a returned worker is seen at once; a short worker-lost timeout passes within the step that loses the worker.
  const workerLostTimeoutMs = path.lostTimeout === 'short' ? 1_000 : null;
  const options: ControlPlaneOptions = {
    transport: world.transport,
    store: world.store,
    startTimeoutMs,
    replySlackMs,
    stopGraceMs,
    restartPolicy: backoff,
    workerCheckMs: 50,
    workerLostTimeoutMs,
    // Only when a path asks (server.drift): a periodic check would repair what the path is about to look at.
    reconcileIntervalMs: null,
    log,
  };
  let controlPlane = new ControlPlane(options);
  await controlPlane.open();
  const requests: TrackedRequest[] = [];
  /** The last status event of the instance: all the API shows of it once it is Deleted. */
  let lastEvent: { to: string; desiredState: string; observedState: string; generation: number; observedGeneration: number | null } | undefined;
  let unsubscribe = await controlPlane.subscribe((event) => {
    if (event.instanceId === name) lastEvent = { ...event.payload };
  });

  const view = async (): Promise<Seen | undefined> => {
    try {
      return seenOf(await controlPlane.status(name));
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  };
  const status = async () => (await view())?.status ?? 'Deleted';

  // A held operation whose state the machine has left: its requester gave up (see `causes`).
  let reaping = true;
  const reaper = (async () => {
    while (reaping) {
      // Only what was held before the state was read: a start that arrives later may belong to a new Starting.
      const starts = gates.pending(name, 'start');
      const stops = gates.pending(name, 'stop');
      const applies = gates.pending(name, 'apply');
      const now = await status().catch(() => undefined);
      if (now !== undefined) {
        if (now !== 'Starting') for (const held of starts) held.release('fail');
        if (now !== 'Stopping' && now !== 'Deleting') for (const held of stops) held.release('ok');
        // A call of an apply the machine no longer waits for (its worker was lost) changes nothing: it fails.
        if (now !== 'Reconfiguring') for (const held of applies) held.release('fail');
      }
      await sleep(25);
    }
  })();

  const track = (label: string, request: Promise<unknown>) => {
    const entry: TrackedRequest = { label, settled: false, abandoned: false };
    requests.push(entry);
    request.then(
      () => (entry.settled = true),
      (error: unknown) => {
        entry.settled = true;
        entry.error = error;
      },
    );
  };

  /** Lets held operations of `kind` go with `verdict` until the machine has left `state`. */
  const releaseWhile = async (state: string, kind: GateKind, verdict: Verdict, what: string) => {
    const end = Date.now() + 20_000;
    while ((await status()) === state) {
      if (Date.now() > end) throw new Error(`${what}: still ${state} after 20 s`);
      for (const held of gates.pending(name, kind)) held.release(verdict);
      await sleep(20);
    }
  };

  const closeControlPlane = async () => {
    await unsubscribe();
    await controlPlane.close();
    for (const request of requests) if (!request.settled) request.abandoned = true;
  };
  const openControlPlane = async () => {
    controlPlane = new ControlPlane(options);
    await controlPlane.open();
    unsubscribe = await controlPlane.subscribe((event) => {
      if (event.instanceId === name) lastEvent = { ...event.payload };
    });
  };
  /**
   * After a worker event the machine moves on before the platform does (a held
   * stop is let go once the machine has left Stopping; a queued stop runs on
   * the returned worker): waits, bounded, until the gates hold nothing of the
   * instance and its servers are the expected ones. `checkWorld` then asserts.
   */
  const settle = async (expect: Expectation) => {
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      await sleep(50);
      if (gates.pending(name).length > 0 || (await status()) !== expect.status) continue;
      const servers = await world.servers(name);
      const count = await world.workloadCount(name);
      const serverOk = expect.serverGeneration === null ? servers.length === 0 : servers.length === 1 && servers[0]?.generation === expect.serverGeneration;
      if (serverOk && (!noWorkload.has(expect.status) || count === 0)) return;
    }
  };

  const restartControlPlane = async () => {
    await closeControlPlane();
    await openControlPlane();
  };

  const perform = async (action: ActionName, expect: Expectation): Promise<void> => {
    switch (action) {
      case 'request.start':
        return track(action, controlPlane.start(name));
      case 'request.stop':
        return track(action, controlPlane.stop(name));
      case 'request.restart':
        return track(action, controlPlane.restart(name));
      case 'request.delete':
        return track(action, controlPlane.delete(name));
      case 'request.configure':
      case 'request.configure.restart':
      case 'request.configure.manual': {
        const updateStrategy = action === 'request.configure' ? undefined : action === 'request.configure.restart' ? 'restart' : 'manual';
        await controlPlane.patchConfig(name, [{ op: 'replace', path: '/sources/0/id', value: `gen-${expect.generation}` }], updateStrategy ? { updateStrategy } : {});
        return;
      }
      case 'apply.succeed':
        return releaseWhile('Reconfiguring', 'apply', 'ok', action);
      case 'apply.fail':
        return releaseWhile('Reconfiguring', 'apply', 'fail', action);
      case 'server.drift': {
        await world.drift(name);
        const comparison = await controlPlane.reconcile(name);
        if (comparison.outcome !== 'drifted') throw new Error(`server.drift: the reconcile found ${comparison.outcome} (${comparison.reason ?? ''})`);
        return;
      }
      case 'report.running':
      case 'report.failed':
      case 'report.stopped': {
        const reported = action === 'report.running' ? 'Running' : action === 'report.failed' ? 'Failed' : 'Stopped';
        await controlPlane.reportStatus({ instanceId: name, status: reported, source: 'model' });
        return;
      }
      case 'start.succeed':
        return releaseWhile('Starting', 'start', 'ok', action);
      case 'start.fail':
        return releaseWhile('Starting', 'start', 'fail', action);
      case 'start.deadline': {
        const end = Date.now() + 10_000;
        while (gates.pending(name, 'start').length === 0) {
          if (Date.now() > end) throw new Error('start.deadline: no start reached the platform within 10 s');
          await sleep(20);
        }
        const entered = (await controlPlane.status(name)).history.findLast((entry) => entry.to === 'Starting');
        // The machine's deadline: the start timeout plus two reply slacks after Starting was entered.
        const deadline = Date.parse(entered!.at) + startTimeoutMs + 2 * replySlackMs;
        await closeControlPlane();
        await sleep(Math.max(0, deadline - Date.now()) + 300);
        await openControlPlane();
        const until = Date.now() + 10_000;
        while ((await status()) === 'Starting') {
          if (Date.now() > until) throw new Error('start.deadline: still Starting after the restart past the deadline');
          await sleep(20);
        }
        return;
      }
      case 'stop.succeed':
        return releaseWhile('Stopping', 'stop', 'ok', action);
      case 'stop.fail':
        return releaseWhile('Stopping', 'stop', 'fail', action);
      case 'remove.succeed':
        return releaseWhile('Deleting', 'stop', 'ok', action);
      case 'remove.fail':
        return releaseWhile('Deleting', 'stop', 'fail', action);
      case 'workload.kill': {
        const runtime = (await controlPlane.get(name)).runtime;
        if (!runtime) throw new Error('workload.kill: the API shows no running workload');
        await world.kill(name, runtime.workloadId);
        return;
      }
      case 'controlPlane.restart':
        return restartControlPlane();
      case 'worker.lose':
        await world.loseWorker();
        // Past the worker-lost timeout (its check runs every workerCheckMs), so that what follows does not depend on time.
        if (workerLostTimeoutMs !== null) await sleep(workerLostTimeoutMs + 500);
        return settle(expect);
      case 'worker.return':
        await world.returnWorker();
        return settle(expect);
    }
  };

  const checkWorld = async (expect: Expectation, where: string) => {
    const servers = await world.servers(name);
    const count = await world.workloadCount(name);
    t.true(count <= 1, `${where}: never two workloads of one instance (found ${count})`);
    // (Unless the model says a server still runs: a stop queued for a lost worker runs when it returns.)
    if (noWorkload.has(expect.status) && expect.serverGeneration === null) t.is(count, 0, `${where}: no workload left while ${expect.status}`);
    if (expect.serverGeneration === null) {
      t.deepEqual(servers, [], `${where}: no server serves`);
      return;
    }
    t.is(servers.length, 1, `${where}: one server serves`);
    t.is(servers[0]?.generation, expect.serverGeneration, `${where}: the server runs generation ${expect.serverGeneration}`);
    if (expect.status === 'Running') {
      const runtime = (await controlPlane.get(name)).runtime;
      t.is(runtime?.workloadId, servers[0]?.workloadId, `${where}: the API names the server that runs`);
      t.is(runtime?.generation, expect.observedGeneration ?? undefined, `${where}: its generation is the observed one`);
    }
  };

  const matches = async (expect: Expectation, where: string) => {
    const end = Date.now() + 20_000;
    let seen: Seen | undefined;
    for (;;) {
      seen = await view();
      if (expect.status === 'Deleted') {
        if (seen === undefined && lastEvent?.to === 'Deleted') {
          t.like(lastEvent, { desiredState: expect.desiredState, observedState: expect.observedState, generation: expect.generation }, `${where}: the Deleted event`);
          return;
        }
      } else if (seen && JSON.stringify(seen) === JSON.stringify(expected(expect))) {
        break;
      }
      if (Date.now() > end) break;
      await sleep(20);
    }
    if (expect.status === 'Deleted') t.fail(`${where}: expected Deleted; the API shows ${JSON.stringify(seen)}`);
    else {
      const failure = await controlPlane.status(name).then((v) => v.failure?.reason, () => undefined);
      // Gone already: the last event says how it got there.
      const gone = seen === undefined ? ` (deleted; its last event: ${JSON.stringify(lastEvent)})` : '';
      t.deepEqual(seen, expected(expect), `${where}: the API's view${failure ? ` (failure: ${failure})` : ''}${gone}`);
    }
  };

  try {
    await controlPlane.create({ name, configuration: { sources: [{ kind: 'mock', id: 'gen-1' }] }, ...world.createFields(name) });
    const created: Expectation = {
      status: 'Pending',
      desiredState: 'Stopped',
      observedState: 'None',
      generation: 1,
      observedGeneration: null,
      history: [[null, 'Pending', 'created']],
      serverGeneration: null,
      conditions: [],
    };
    await matches(created, 'created');
    for (const [index, step] of path.steps.entries()) {
      const where = `step ${index + 1} (${step.action}; expect ${step.transitions.join('; ')})`;
      await perform(step.action, step.expect);
      await matches(step.expect, where);
      await checkWorld(step.expect, where);
    }
    const last = path.steps.at(-1)!.expect;
    // A path that ends Starting ends once its start reached the platform: nothing is still on its way when the world closes.
    if (last.status === 'Starting' && last.serverGeneration === null) {
      const end = Date.now() + 10_000;
      while (gates.pending(name, 'start').length === 0 && Date.now() < end) await sleep(20);
    }
    if (atRest.has(last.status)) {
      const live = requests.filter((request) => !request.abandoned);
      const end = Date.now() + 5_000;
      while (live.some((request) => !request.settled) && Date.now() < end) await sleep(20);
      for (const request of live) {
        t.true(request.settled, `${request.label} is answered once the instance is ${last.status}`);
        const code = request.error instanceof DraasError ? request.error.code : undefined;
        t.not(code, 'worker-timeout', `${request.label} is answered, not timed out`);
      }
    }
  } catch (error) {
    // Said at once: ava prints a rejection's details only when the whole file is done.
    t.log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    throw error;
  } finally {
    if (logs.length > 0) t.log(`control plane log:\n${logs.join('\n')}`);
    reaping = false;
    await reaper;
    await unsubscribe().catch(() => undefined);
    await controlPlane.close();
    gates.drain();
    await world.close();
  }
}

/** Runs `task`s at most `limit` at a time (paths spawn processes; the machine has two cores). */
export function limiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await task();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}
