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
  'workload.kill',
  'controlPlane.restart',
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
  'instance.configure': { how: 'ControlPlane.patchConfig: a JSON Patch naming the next generation in a source id', by: ['request.configure'] },
  'observed.report': { how: 'ControlPlane.reportStatus (POST /api/status/updates) saying Running, Failed or Stopped', by: ['report.running', 'report.failed', 'report.stopped'] },
  'workload.exited': { how: 'the running server is killed for real (SIGKILL, a container kill, the memory driver crashing it)', by: ['workload.kill'] },
  'instance.recover': { how: 'the control plane is closed and a new one opened on the same store, transport and worker', by: ['controlPlane.restart', 'start.deadline'] },
  'xstate.done.actor.startWorkload': { how: 'the held launch is let go and serves /health; or the start finds the server running', by: ['start.succeed', 'world'] },
  'xstate.error.actor.startWorkload': { how: 'the held launch is let go as failed (the server exits 1 before serving)', by: ['start.fail'] },
  'xstate.after.untilStartDeadline': {
    how: 'the control plane restarts while a start is held, later than the reply slack: the restored deadline is then shorter than the new start command\'s reply timeout, and passes',
    by: ['start.deadline'],
  },
  'xstate.done.actor.stopWorkload': { how: 'the held graceful stop is let go (the server exits 0); or nothing was running', by: ['stop.succeed', 'world'] },
  'xstate.error.actor.stopWorkload': { how: 'the platform fails the stop (memory driver)', by: ['stop.fail'] },
  'xstate.done.actor.removeWorkload': { how: 'the held stop of the removal is let go; or nothing was running', by: ['remove.succeed', 'world'] },
  'xstate.error.actor.removeWorkload': { how: 'the platform fails the removal (memory driver)', by: ['remove.fail'] },
  'xstate.after.untilRetry': { how: 'the restart backoff passes: paths with prompt timers use a backoff of a few hundred ms, the others one that never passes', by: ['world'] },
};

/**
 * Transitions no real-world action can take, and why. Each must stay
 * untaken: one that a path takes fails the plan (remove it here).
 */
export const impossible: Record<string, string> = {
  'Deleting --instance.configure [acceptsConfiguration]--> (stays)': 'acceptsConfiguration refuses every configuration while Deleting',
};

export type Timers = 'held' | 'prompt';

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

type Effect = { events: AnyEventObject[]; world: World };

/** What `action` does now: the machine events it causes and the world after it; undefined when it cannot be done now. */
function perform(graph: MachineGraph, node: WalkNode, action: ActionName): Effect | undefined {
  const { snapshot, world } = node;
  const state = String(snapshot.value);
  const context = snapshot.context;
  const request = (type: string): Effect => ({ events: [{ type }], world });
  const heldStart = state === 'Starting' && !world.live;
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
      return { events: [{ type: 'instance.configure', generation: context.generation + 1 }], world };
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
      if (state !== 'Stopping' || !world.live) return undefined;
      return {
        events: [{ type: 'xstate.done.actor.stopWorkload', output: { wasRunning: true } }],
        world: { ...world, live: false, liveGeneration: null },
      };
    case 'stop.fail':
      if (state !== 'Stopping' || !world.live) return undefined;
      return { events: [{ type: 'xstate.error.actor.stopWorkload', error: new Error('model: the stop failed') }], world };
    case 'remove.succeed':
      if (state !== 'Deleting' || !world.live) return undefined;
      return { events: [{ type: 'xstate.done.actor.removeWorkload', output: {} }], world: { ...world, live: false, liveGeneration: null } };
    case 'remove.fail':
      if (state !== 'Deleting' || !world.live) return undefined;
      return { events: [{ type: 'xstate.error.actor.removeWorkload', error: new Error('model: the removal failed') }], world };
    case 'workload.kill': {
      if (!world.live || !context.workload) return undefined;
      const exited = { type: 'workload.exited', workloadId: context.workload.workloadId, exitCode: null, signal: 'SIGKILL', lastLogLines: [] };
      return { events: [exited], world: { ...world, live: false, liveGeneration: null } };
    }
    case 'controlPlane.restart':
      return request('instance.recover');
  }
}

/** What happens by itself in this world: a start that finds its server, a stop or remove that finds none, a prompt timer. */
function reaction(graph: MachineGraph, node: WalkNode): Effect | undefined {
  const { snapshot, world } = node;
  const state = String(snapshot.value);
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
  if (String(after.value) === 'Starting' && reentered && !world.live && world.launchGeneration === null) {
    return { ...world, launchGeneration: after.context.generation };
  }
  if (String(after.value) !== 'Starting' && world.launchGeneration !== null) return { ...world, launchGeneration: null };
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
    for (const event of effectNow.events) {
      const result = apply(machine, graph, snapshot, event);
      if (!result) return false;
      events.push(event.type);
      transitions.push(...result.taken);
      world = entered(snapshot, result.next, effectNow.world);
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
const irrelevant = new Set(['instanceId', 'platform', 'status', 'history', 'historyLimit', 'startTimeoutMs', 'restartPolicy', 'startDeadline', 'retryAt', 'failure', 'lastWorkerId']);

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
    else abstract[name] = value;
  }
  const { world } = node;
  const worldKey = [world.live, relative(world.liveGeneration, generation), relative(world.launchGeneration, generation), world.timers];
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
    serverGeneration: world.live ? world.liveGeneration : null,
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
  for (const timers of ['held', 'prompt'] as const) {
    const [snapshot] = initialTransition(machine, walkInput);
    const node: WalkNode = { snapshot, world: { live: false, liveGeneration: null, launchGeneration: null, timers } };
    const key = keyOf(node);
    nodes.set(key, { node, depth: 0 });
    queue.push(key);
  }
  /** For each transition id, the edge that takes it first (shallowest; held timers first). */
  const best = new Map<string, { edge: Edge; depth: number; timers: Timers }>();
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
        const rank = (timers: Timers, d: number) => (timers === 'held' ? 0 : 1_000) + d;
        if (!known || rank(node.world.timers, depth + 1) < rank(known.timers, known.depth)) {
          best.set(taken.id, { edge, depth: depth + 1, timers: node.world.timers });
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
  for (const [id, { edge, timers }] of targets) {
    if (covered.has(id)) continue;
    const edges = [...routeTo(edge.from), edge];
    const steps: PathStep[] = edges.map((each) => {
      for (const taken of each.transitions) covered.add(taken.id);
      return { action: each.action, events: each.events, transitions: each.transitions.map((t) => t.id), expect: expectationOf(nodes.get(each.to)!.node) };
    });
    paths.push({ name: `${timers}: ${steps.map((s) => s.action).join(' → ')}`, timers, steps });
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
