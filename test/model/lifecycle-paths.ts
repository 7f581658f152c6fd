/**
 * Model-based lifecycle paths: walks the instance machine's own definition
 * (`machineGraph`, the machine's real guards through xstate's pure
 * `transition`) together with a small model of the world around it (does a
 * server of the instance run, of which generation; are timers prompt), and
 * plans paths that take every transition of the machine. The suites in this
 * folder drive each path through a real control plane and check, after every
 * step, that the API and the real workloads agree with the step's expectation.
 *
 * Every machine event kind needs an entry in `causes`: the real-world action
 * that makes it happen. An event kind without one, a state no path reaches or
 * a transition no path takes is reported by `planPaths` (and fails the
 * suites), naming it. Pure: no I/O.
 */
import { initialTransition, transition, type AnyEventObject, type SnapshotFrom } from 'xstate';
import { machineGraph, transitionsTaken, type GraphTransition, type MachineGraph } from '../../src/machines/graph.js';
import { createInstanceMachine, type InstanceContext, type InstanceMachine } from '../../src/machines/instance.js';
import type { WorkloadRef } from '../../src/platforms/driver.js';

/** What a test can do to the world; each suite implements every action its platform supports. */
export const actionNames = [
  'request.start',
  'request.stop',
  'request.restart',
  'request.delete',
  'request.configure',
  'request.configure.restart',
  'request.configure.manual',
  'report.running',
  'report.failed',
  'report.stopped',
  'start.succeed',
  'start.fail',
  'start.deadline',
  'stop.succeed',
  'stop.fail',
  'remove.succeed',
  'remove.fail',
  'apply.succeed',
  'apply.fail',
  'server.drift',
  'workload.kill',
  'controlPlane.restart',
  'worker.lose',
  'worker.return',
] as const;
export type ActionName = (typeof actionNames)[number];

/**
 * How each event kind of the machine is caused in the real world. `by` lists
 * the actions that cause it; `world` means it follows by itself from the
 * state of the world (see `reaction`). The harness rules every suite follows:
 * - every start that has to launch a server, and every stop or remove of a
 *   running server, is held at the platform until the path lets it go (as it
 *   succeeds or fails): the memory driver by gates, a server process by a
 *   launcher that asks the test before it starts serving and before it obeys
 *   SIGINT;
 * - a start that finds the server running, and a stop or remove that finds
 *   none, completes at once;
 * - a held operation whose state the machine has left (its requester gave
 *   up) is let go at once: a start as failed, a stop or remove as done.
 */
export const causes: Record<string, { how: string; by: readonly (ActionName | 'world')[] }> = {
  'instance.start': { how: 'ControlPlane.start (POST …/start), not awaited', by: ['request.start'] },
  'instance.stop': { how: 'ControlPlane.stop (POST …/stop), not awaited', by: ['request.stop'] },
  'instance.restart': { how: 'ControlPlane.restart (POST …/restart), not awaited', by: ['request.restart'] },
  'instance.delete': { how: 'ControlPlane.delete (DELETE …), not awaited', by: ['request.delete'] },
  'instance.configure': {
    how: 'ControlPlane.patchConfig: a JSON Patch naming the next generation in a source id (the default update strategy auto; or with updateStrategy restart or manual)',
    by: ['request.configure', 'request.configure.restart', 'request.configure.manual'],
  },
  'instance.drifted': {
    how: "the server's source is deleted behind DRaaS's back (not held at the gates), then ControlPlane.reconcile compares the instance with what runs",
    by: ['server.drift'],
  },
  'xstate.done.actor.applyConfiguration': {
    how: "every component call of the apply is held at the gates (the server asks before it runs one) and let go: all succeed; or the first fails (500), and a restart is needed",
    by: ['apply.succeed', 'apply.fail'],
  },
  'xstate.error.actor.applyConfiguration': { how: 'the worker goes away while the apply is held: the control plane is told it is lost', by: ['worker.lose'] },
  'observed.report': { how: 'ControlPlane.reportStatus (POST /api/status/updates) saying Running, Failed or Stopped', by: ['report.running', 'report.failed', 'report.stopped'] },
  'workload.exited': { how: 'the running server is killed for real (SIGKILL, a container kill, the memory driver crashing it)', by: ['workload.kill'] },
  'instance.recover': { how: 'the control plane is closed and a new one opened on the same store, transport and worker (also the return in start.deadline)', by: ['controlPlane.restart', 'start.deadline'] },
  'xstate.done.actor.startWorkload': { how: 'the held launch is let go and serves /health; or the start finds the server running', by: ['start.succeed', 'world'] },
  'xstate.error.actor.startWorkload': { how: 'the held launch is let go as failed (the server exits 1 before serving)', by: ['start.fail'] },
  'xstate.after.untilStartDeadline': {
    how: 'the control plane goes down while a start is held and comes back after the start deadline: the restored machine finds its deadline passed before any reply (a backstop: with the control plane up, the reply timeout always comes first)',
    by: ['start.deadline'],
  },
  'xstate.done.actor.stopWorkload': { how: 'the held graceful stop is let go (the server exits 0); or nothing was running', by: ['stop.succeed', 'world'] },
  'xstate.error.actor.stopWorkload': { how: 'the platform fails the stop (memory driver)', by: ['stop.fail'] },
  'xstate.done.actor.removeWorkload': { how: 'the held stop of the removal is let go; or nothing was running', by: ['remove.succeed', 'world'] },
  'xstate.error.actor.removeWorkload': { how: 'the platform fails the removal (memory driver)', by: ['remove.fail'] },
  'xstate.after.untilRetry': { how: 'the restart backoff passes: paths with prompt timers use a backoff of a few hundred ms, the others one that never passes', by: ['world'] },
  'worker.lost': {
    how: 'the worker the instance is placed on closes (it publishes worker.withdrawn: the control plane marks it lost at once); in paths with a short workerLostTimeoutMs the worker stays away past it, and a Running instance is told again, as expired',
    by: ['worker.lose'],
  },
  'worker.returned': { how: 'a worker with the same id and the same driver starts again; the control plane\'s worker watch (workerCheckMs) sees it back', by: ['worker.return'] },
};

/**
 * Transitions no real-world action can take, and why. Each must stay
 * untaken: one that a path takes fails the plan (remove it here).
 */
export const impossible: Record<string, string> = {
  'Deleting --instance.configure [acceptsConfiguration]--> (stays)': 'acceptsConfiguration refuses every configuration while Deleting',
  'Pending --worker.lost [mayRunOnLostWorker]--> (stays)': 'a Pending instance is placed nowhere and has no workload: mayRunOnLostWorker refuses',
  'Running --worker.lost [mayRunOnLostWorker]--> (stays)': "Running's own worker.lost transitions (the last one unguarded) are always taken before the root's",
};

export type Timers = 'held' | 'prompt';
/** `short`: the control plane's workerLostTimeoutMs is small, and a lost worker stays away past it; `never`: no timeout. */
export type LostTimeout = 'never' | 'short';

/** The worker every path places its instance on (the suites give their worker this id). */
export const modelWorkerId = 'model-worker';

/** The world around the machine, as far as the paths need it. */
export interface World {
  /** A server of the instance runs (serves). */
  live: boolean;
  /** The generation the running server runs. */
  liveGeneration: number | null;
  /** The generation a held start will run (its spec was made when the start was sent). */
  launchGeneration: number | null;
  /** `prompt`: the restart backoff passes right away; `held`: never within a path. */
  timers: Timers;
  lostTimeout: LostTimeout;
  /** The instance has been placed on the worker (its first start was sent). */
  placed: boolean;
  /** The worker is away. */
  lost: boolean;
  /** A stop or remove waits in the lost worker's queue (it runs when the worker returns). */
  queued: boolean;
  /** The running server's source was deleted behind DRaaS's back: it serves no generation until repaired. */
  drifted: boolean;
  /** The generation a held apply brings the server to (set when Reconfiguring is entered). */
  applyGeneration: number | null;
}

/** What the API and the real workloads must show after a step. */
export interface Expectation {
  status: string;
  desiredState: string;
  observedState: string;
  generation: number;
  observedGeneration: number | null;
  /** The whole transition history: [from, to, cause]. */
  history: [string | null, string, string][];
  /** A server runs, of this generation (null: none runs). */
  serverGeneration: number | null;
  /** The types of the view's conditions (`WorkerLost`). */
  conditions: string[];
}

export interface PathStep {
  action: ActionName;
  /** The machine events it causes, in order (those that follow by themselves included). */
  events: string[];
  /** Ids of the graph transitions it takes. */
  transitions: string[];
  expect: Expectation;
}

export interface LifecyclePath {
  /** e.g. `held: request.start → start.fail → request.start`. */
  name: string;
  timers: Timers;
  lostTimeout: LostTimeout;
  steps: PathStep[];
}

type Snapshot = SnapshotFrom<InstanceMachine>;

interface WalkNode {
  snapshot: Snapshot;
  world: World;
}

interface Edge {
  from: string;
  action: ActionName;
  to: string;
  events: string[];
  transitions: GraphTransition[];
}

export interface Plan {
  graph: MachineGraph;
  paths: LifecyclePath[];
  /** Event kinds of the machine without an entry in `causes`. */
  unmapped: string[];
  /** States no path reaches. */
  unreached: string[];
  /** Transitions no path takes (the impossible ones left out). */
  uncovered: string[];
  /** Entries of `impossible` that a path takes after all, or that name no transition. */
  staleImpossible: string[];
}

/** The machine the walk runs: the real definition, with a clock that stands still. */
function walkMachine(): InstanceMachine {
  return createInstanceMachine({ now: () => 0 });
}

const walkInput = {
  instanceId: 'model',
  platform: 'process' as const,
  startTimeoutMs: 1_000,
  restartPolicy: { initialBackoffMs: 1_000, maxBackoffMs: 4_000 },
};

function ref(generation: number): WorkloadRef {
  return { instanceId: 'model', platform: 'process', workloadId: `w${generation}`, port: 1, generation, startedAt: new Date(0).toISOString() };
}

/** The exact event type of a kind in a state (`after` events carry the state's id). */
function eventOfKind(graph: MachineGraph, state: string, kind: string): string | undefined {
  return graph.transitions.find((transition) => transition.from === state && transition.eventKind === kind)?.event;
}

/** `ignorable`: event types the machine may take no transition for (a worker event an instance is not affected by). */
type Effect = { events: AnyEventObject[]; world: World; ignorable?: readonly string[] };

const lostSince = new Date(0).toISOString();

/** What a start that waits for the lost worker's reply, or one refused because of it, fails with (`WorkerLostError`). */
function workerLostError(): Error {
  return Object.assign(new Error('model: the worker is lost'), { code: 'worker-lost', details: { lostWorker: { workerId: modelWorkerId, since: lostSince } } });
}

/**
 * A start sent while the worker is lost (see workload-effects.ts `target`):
 * refused while a workload may still run there and the worker-lost timeout
 * has not passed; otherwise placed on another worker, and the suites run no
 * other worker (NoLiveWorkerError).
 */
function startErrorWhileLost(context: InstanceContext, world: World): Error {
  if (context.workerLost?.workerId === modelWorkerId && world.lostTimeout === 'never') return workerLostError();
  return Object.assign(new Error('model: no live worker'), { code: 'no-live-worker' });
}

/** What `action` does now: the machine events it causes and the world after it; undefined when it cannot be done now. */
function perform(graph: MachineGraph, node: WalkNode, action: ActionName): Effect | undefined {
  const { snapshot, world } = node;
  const state = String(snapshot.value);
  const context = snapshot.context;
  const request = (type: string): Effect => ({ events: [{ type }], world });
  const heldStart = state === 'Starting' && !world.live && !world.lost;
  const heldApply = state === 'Reconfiguring' && world.live && !world.lost;
  const applied = (generation: number) => ({ type: 'xstate.done.actor.applyConfiguration', output: { outcome: 'applied', generation, summary: [] } });
  switch (action) {
    case 'request.start':
      return request('instance.start');
    case 'request.stop':
      return request('instance.stop');
    case 'request.restart':
      return request('instance.restart');
    case 'request.delete':
      return request('instance.delete');
    case 'request.configure':
      return { events: [{ type: 'instance.configure', generation: context.generation + 1, update: 'auto' }], world };
    case 'request.configure.restart':
      return { events: [{ type: 'instance.configure', generation: context.generation + 1, update: 'restart' }], world };
    case 'request.configure.manual':
      return { events: [{ type: 'instance.configure', generation: context.generation + 1, update: 'manual' }], world };
    case 'apply.succeed': {
      if (!heldApply || world.applyGeneration === null) return undefined;
      const events: AnyEventObject[] = [applied(world.applyGeneration)];
      // The calls are let go until the instance leaves Reconfiguring: a newer generation recorded meanwhile is applied right after.
      const behind = context.reconfigure === 'configuration' && context.desired === 'Running' && !context.restartPending && world.applyGeneration < context.generation;
      if (behind) events.push(applied(context.generation));
      return { events, world: { ...world, liveGeneration: behind ? context.generation : world.applyGeneration, drifted: false } };
    }
    case 'apply.fail':
      if (!heldApply) return undefined;
      return { events: [{ type: 'xstate.done.actor.applyConfiguration', output: { outcome: 'restart', reasons: ['model: a component call failed'] } }], world };
    case 'server.drift':
      if (state !== 'Running' || !world.live || world.lost || world.drifted || !context.workload) return undefined;
      return { events: [{ type: 'instance.drifted', workloadId: context.workload.workloadId, differences: ['model: the source is missing'] }], world: { ...world, drifted: true } };
    case 'report.running':
    case 'report.failed':
    case 'report.stopped': {
      const status = action === 'report.running' ? 'Running' : action === 'report.failed' ? 'Failed' : 'Stopped';
      return { events: [{ type: 'observed.report', status, source: 'model' }], world };
    }
    case 'start.succeed':
      if (!heldStart) return undefined;
      return {
        events: [{ type: 'xstate.done.actor.startWorkload', output: ref(world.launchGeneration ?? context.generation) }],
        world: { ...world, live: true, liveGeneration: world.launchGeneration ?? context.generation },
      };
    case 'start.fail':
      if (!heldStart) return undefined;
      return { events: [{ type: 'xstate.error.actor.startWorkload', error: new Error('model: the start failed') }], world };
    case 'start.deadline': {
      const deadline = eventOfKind(graph, 'Starting', 'xstate.after.untilStartDeadline');
      if (!heldStart || !deadline) return undefined;
      return { events: [{ type: 'instance.recover' }, { type: deadline }], world: { ...world, launchGeneration: null } };
    }
    case 'stop.succeed':
      if (state !== 'Stopping' || !world.live || world.lost) return undefined;
      return {
        events: [{ type: 'xstate.done.actor.stopWorkload', output: { wasRunning: true } }],
        world: { ...world, live: false, liveGeneration: null },
      };
    case 'stop.fail':
      if (state !== 'Stopping' || !world.live || world.lost) return undefined;
      return { events: [{ type: 'xstate.error.actor.stopWorkload', error: new Error('model: the stop failed') }], world };
    case 'remove.succeed':
      if (state !== 'Deleting' || !world.live || world.lost) return undefined;
      return { events: [{ type: 'xstate.done.actor.removeWorkload', output: {} }], world: { ...world, live: false, liveGeneration: null } };
    case 'remove.fail':
      if (state !== 'Deleting' || !world.live || world.lost) return undefined;
      return { events: [{ type: 'xstate.error.actor.removeWorkload', error: new Error('model: the removal failed') }], world };
    case 'workload.kill': {
      // Not while the worker is away: nobody would report the exit until it returns.
      if (!world.live || !context.workload || world.lost) return undefined;
      const exited = { type: 'workload.exited', workloadId: context.workload.workloadId, exitCode: null, signal: 'SIGKILL', lastLogLines: [] };
      return { events: [exited], world: { ...world, live: false, liveGeneration: null } };
    }
    case 'controlPlane.restart':
      // Not while the worker is away: the new control plane's own loss detection is another path's matter.
      if (world.lost) return undefined;
      return request('instance.recover');
    case 'worker.lose': {
      // Only with held timers: a prompt retry against a lost worker fails again and again, and never settles.
      if (world.timers === 'prompt' || world.lost || !world.placed) return undefined;
      const lost = { type: 'worker.lost', workerId: modelWorkerId, since: lostSince };
      const events: AnyEventObject[] = [lost];
      // A start or an apply waiting for the worker's reply fails at once (after the machine is told of the loss).
      if (heldStart) events.push({ type: 'xstate.error.actor.startWorkload', error: workerLostError() });
      if (heldApply) events.push({ type: 'xstate.error.actor.applyConfiguration', error: workerLostError() });
      // Past the timeout, a Running instance is told again (the control plane checks after every presence check).
      if (world.lostTimeout === 'short' && state === 'Running') events.push({ ...lost, expired: true });
      // A held stop or remove is let go as done once the machine has moved on (its request failed): the server ends.
      const stopped = (state === 'Stopping' || state === 'Deleting') && world.live ? { live: false, liveGeneration: null } : {};
      return { events, world: { ...world, ...stopped, lost: true }, ignorable: ['worker.lost'] };
    }
    case 'worker.return': {
      if (!world.lost) return undefined;
      // What was queued for it runs first: a stop or remove ends the server it still runs.
      const after = world.queued ? { ...world, live: false, liveGeneration: null } : world;
      return { events: [{ type: 'worker.returned', workerId: modelWorkerId }], world: { ...after, lost: false, queued: false }, ignorable: ['worker.returned'] };
    }
  }
}

/** What happens by itself in this world: a start that finds its server, a stop or remove that finds none, a prompt timer. */
function reaction(graph: MachineGraph, node: WalkNode): Effect | undefined {
  const { snapshot, world } = node;
  const state = String(snapshot.value);
  if (world.lost) {
    // Commands for a lost worker: a start fails, a stop or remove is queued for it (done, deferred).
    if (state === 'Starting') return { events: [{ type: 'xstate.error.actor.startWorkload', error: startErrorWhileLost(snapshot.context, world) }], world };
    if (state === 'Reconfiguring') return { events: [{ type: 'xstate.error.actor.applyConfiguration', error: workerLostError() }], world };
    if (state === 'Stopping') return { events: [{ type: 'xstate.done.actor.stopWorkload', output: { deferredTo: modelWorkerId } }], world: { ...world, queued: true } };
    if (state === 'Deleting') return { events: [{ type: 'xstate.done.actor.removeWorkload', output: { deferredTo: modelWorkerId } }], world: { ...world, queued: true } };
  }
  if (state === 'Starting' && world.live) {
    return { events: [{ type: 'xstate.done.actor.startWorkload', output: ref(world.liveGeneration ?? snapshot.context.generation) }], world };
  }
  if (state === 'Stopping' && !world.live) return { events: [{ type: 'xstate.done.actor.stopWorkload', output: { wasRunning: false } }], world };
  if (state === 'Deleting' && !world.live) return { events: [{ type: 'xstate.done.actor.removeWorkload', output: {} }], world };
  if (world.timers === 'prompt') {
    const retry = eventOfKind(graph, state, 'xstate.after.untilRetry');
    if (retry && snapshot.machine.getTransitionData(snapshot, { type: retry } as never).length > 0) return { events: [{ type: retry }], world };
  }
  return undefined;
}

/** Applies one event; undefined when the machine takes no transition for it. */
function apply(machine: InstanceMachine, graph: MachineGraph, snapshot: Snapshot, event: AnyEventObject) {
  if (snapshot.status !== 'active') return undefined;
  const definitions = machine.getTransitionData(snapshot, event as never);
  if (definitions.length === 0) return undefined;
  const taken = transitionsTaken(graph, String(snapshot.value), definitions);
  const [next] = transition(machine, snapshot, event as never);
  return { next, taken };
}

/** The world a new state brings: a start sent now runs the generation of now. */
function entered(before: Snapshot, after: Snapshot, world: World): World {
  const reentered = after.context.history.length !== before.context.history.length;
  // The start places the instance before it is sent.
  if (String(after.value) === 'Starting' && !world.placed) world = { ...world, placed: true };
  if (String(after.value) === 'Starting' && reentered && !world.live && world.launchGeneration === null) {
    return { ...world, launchGeneration: after.context.generation };
  }
  if (String(after.value) !== 'Starting' && world.launchGeneration !== null) world = { ...world, launchGeneration: null };
  // An apply sent now brings the server to the generation of now (a drift repair: back to the one it runs).
  if (String(after.value) === 'Reconfiguring' && reentered) {
    const context = after.context;
    world = { ...world, applyGeneration: context.reconfigure === 'drift' ? context.observedGeneration : context.generation };
  }
  if (String(after.value) !== 'Reconfiguring' && world.applyGeneration !== null) world = { ...world, applyGeneration: null };
  // A server that no longer runs is no longer drifted.
  if (!world.live && world.drifted) world = { ...world, drifted: false };
  return world;
}

function step(machine: InstanceMachine, graph: MachineGraph, node: WalkNode, action: ActionName) {
  const effect = perform(graph, node, action);
  if (!effect) return undefined;
  let snapshot = node.snapshot;
  let world = node.world;
  const events: string[] = [];
  const transitions: GraphTransition[] = [];
  const run = (effectNow: Effect): boolean => {
    world = effectNow.world;
    for (const event of effectNow.events) {
      const result = apply(machine, graph, snapshot, event);
      if (!result) {
        if (effectNow.ignorable?.includes(event.type)) continue;
        return false;
      }
      events.push(event.type);
      transitions.push(...result.taken);
      world = entered(snapshot, result.next, world);
      snapshot = result.next;
    }
    return true;
  };
  if (!run(effect)) return undefined;
  for (let guard = 0; ; guard++) {
    if (guard > 20) throw new Error(`the world's reactions do not settle after ${action} in ${String(snapshot.value)}`);
    const next = reaction(graph, { snapshot, world });
    if (!next || !run(next)) break;
  }
  return { node: { snapshot, world }, events, transitions };
}

function relative(value: number | null | undefined, generation: number): string | null {
  if (value === null || value === undefined) return null;
  return value === generation ? 'current' : 'older';
}

/** Context fields that tell nothing about what may happen next (ids, clocks, texts). */
const irrelevant = new Set(['instanceId', 'platform', 'status', 'history', 'historyLimit', 'startTimeoutMs', 'restartPolicy', 'startDeadline', 'retryAt', 'failure', 'lastWorkerId', 'drift', 'note']);

/** The node's identity for the walk: the state, and the context and world abstracted to what guards and the world can tell apart. Unknown context fields count as they are. */
function keyOf(node: WalkNode): string {
  const context: InstanceContext = node.snapshot.context;
  const generation = context.generation;
  const abstract: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(context).sort(([a], [b]) => a.localeCompare(b))) {
    if (irrelevant.has(name) || name === 'generation') continue;
    if (name === 'observedGeneration') abstract[name] = relative(context.observedGeneration, generation);
    else if (name === 'workload') abstract[name] = context.workload ? relative(context.workload.generation, generation) : null;
    else if (name === 'consecutiveFailures') abstract[name] = Math.min(context.consecutiveFailures, 2);
    else if (name === 'workerLost') abstract[name] = context.workerLost?.workerId ?? null;
    else abstract[name] = value;
  }
  const { world } = node;
  const worldKey = [
    world.live,
    relative(world.liveGeneration, generation),
    relative(world.launchGeneration, generation),
    world.timers,
    world.lostTimeout,
    world.placed,
    world.lost,
    world.queued,
    world.drifted,
    relative(world.applyGeneration, generation),
  ];
  return JSON.stringify([node.snapshot.value, node.snapshot.status, abstract, worldKey]);
}

function expectationOf(node: WalkNode): Expectation {
  const { snapshot, world } = node;
  const context = snapshot.context;
  return {
    status: String(snapshot.value),
    desiredState: context.desired,
    observedState: context.observed,
    generation: context.generation,
    observedGeneration: context.observedGeneration,
    history: context.history.map((entry) => [entry.from, entry.to, entry.cause]),
    serverGeneration: world.live && !world.drifted ? world.liveGeneration : null,
    conditions: context.workerLost ? ['WorkerLost'] : [],
  };
}

const NODE_LIMIT = 20_000;

/**
 * Plans paths that take every transition the given actions can take, shortest
 * first, paths with held timers preferred. `actions` defaults to all.
 */
export function planPaths(options: { actions?: readonly ActionName[]; machine?: InstanceMachine } = {}): Plan {
  const machine = options.machine ?? walkMachine();
  const graph = machineGraph(machine);
  const actions = options.actions ?? actionNames;
  const unmapped = [...new Set(graph.transitions.map((transition) => transition.eventKind))].filter((kind) => !causes[kind]).sort();

  const nodes = new Map<string, { node: WalkNode; depth: number; via?: Edge }>();
  const queue: string[] = [];
  const roots = new Map<string, WalkNode>();
  const rootOf = (world: World) => `${world.timers}/${world.lostTimeout}`;
  // A short worker-lost timeout only with held timers (see worker.lose).
  for (const [timers, lostTimeout] of [['held', 'never'], ['prompt', 'never'], ['held', 'short']] as const) {
    const [snapshot] = initialTransition(machine, walkInput);
    const world: World = { live: false, liveGeneration: null, launchGeneration: null, timers, lostTimeout, placed: false, lost: false, queued: false, drifted: false, applyGeneration: null };
    const node: WalkNode = { snapshot, world };
    roots.set(rootOf(world), node);
    const key = keyOf(node);
    nodes.set(key, { node, depth: 0 });
    queue.push(key);
  }
  /** For each transition id, the edge that takes it first (shallowest; held timers first, then no worker-lost timeout). */
  const best = new Map<string, { edge: Edge; depth: number; world: World }>();
  const rank = (world: World, depth: number) => (world.timers === 'held' ? 0 : 1_000) + (world.lostTimeout === 'never' ? 0 : 2_000) + depth;
  for (let index = 0; index < queue.length; index++) {
    const key = queue[index]!;
    const { node, depth } = nodes.get(key)!;
    for (const action of actions) {
      const result = step(machine, graph, node, action);
      if (!result) continue;
      const to = keyOf(result.node);
      const edge: Edge = { from: key, action, to, events: result.events, transitions: result.transitions };
      if (!nodes.has(to)) {
        if (nodes.size >= NODE_LIMIT) {
          throw new Error(`the walk passed ${NODE_LIMIT} abstract states: a context field grows without bound; abstract it in keyOf (last: ${to})`);
        }
        nodes.set(to, { node: result.node, depth: depth + 1, via: edge });
        queue.push(to);
      }
      for (const taken of result.transitions) {
        const known = best.get(taken.id);
        if (!known || rank(node.world, depth + 1) < rank(known.world, known.depth)) {
          best.set(taken.id, { edge, depth: depth + 1, world: node.world });
        }
      }
    }
  }

  const routeTo = (key: string): Edge[] => {
    const route: Edge[] = [];
    for (let at = nodes.get(key)!; at.via; at = nodes.get(at.via.from)!) route.unshift(at.via);
    return route;
  };
  const covered = new Set<string>();
  const paths: LifecyclePath[] = [];
  const targets = [...best.entries()].sort(([idA, a], [idB, b]) => b.depth - a.depth || idA.localeCompare(idB));
  for (const [id, { edge, world }] of targets) {
    if (covered.has(id)) continue;
    const edges = [...routeTo(edge.from), edge];
    // Replayed from the start: a node found first by another route has another history.
    let at = roots.get(rootOf(world))!;
    const steps: PathStep[] = edges.map((each) => {
      const result = step(machine, graph, at, each.action);
      if (!result || keyOf(result.node) !== each.to) throw new Error(`replaying ${each.action} does not lead where the walk went`);
      at = result.node;
      for (const taken of result.transitions) covered.add(taken.id);
      return { action: each.action, events: result.events, transitions: result.transitions.map((t) => t.id), expect: expectationOf(at) };
    });
    const { timers, lostTimeout } = world;
    const label = lostTimeout === 'short' ? `${timers}, short worker-lost timeout` : timers;
    paths.push({ name: `${label}: ${steps.map((s) => s.action).join(' → ')}`, timers, lostTimeout, steps });
  }
  paths.sort((a, b) => a.name.localeCompare(b.name));

  const ids = new Set(graph.transitions.map((transition) => transition.id));
  const reachedStates = new Set([...nodes.values()].map(({ node }) => String(node.snapshot.value)));
  return {
    graph,
    paths,
    unmapped,
    unreached: graph.states.map((state) => state.name).filter((name) => !reachedStates.has(name)),
    uncovered: graph.transitions.map((transition) => transition.id).filter((id) => !covered.has(id) && !(id in impossible)),
    staleImpossible: Object.keys(impossible).filter((id) => covered.has(id) || !ids.has(id)),
  };
}

/** One line per path step, for test logs. */
export function describePath(path: LifecyclePath): string[] {
  return path.steps.map((each, index) => `${index + 1}. ${each.action} → ${each.expect.status} (desired ${each.expect.desiredState}): ${each.transitions.join('; ')}`);
}
