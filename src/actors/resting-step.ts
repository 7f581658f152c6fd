/**
 * An event applied to an instance at rest (see `InstanceActor`) without
 * making an XState actor: the machine's own transition function, run with an
 * inert actor scope that runs nothing. It answers only when the step is pure
 * data — assignments, no action to execute, nothing deferred (no invoke,
 * timer, spawn or send) — and ends at rest again; otherwise it answers
 * undefined, its result is dropped (it ran no side effect), and the caller
 * delivers the event to a real actor instead. What a restart of 10,000 idle
 * instances does (`instance.recover`: a history entry) costs no actor then.
 */
import { createActor, type ActorScope, type MachineSnapshot } from 'xstate';
import type { InstanceEvent } from '../machines/instance-types.js';
import type { InstanceMachine } from '../machines/instance.js';
import type { RestorableSnapshot } from '../machines/instance-snapshot.js';

type Scope = Parameters<InstanceMachine['transition']>[2];
export type InstanceMachineSnapshot = ReturnType<InstanceMachine['resolveState']>;

interface Inert {
  scope: Scope;
  /** Set when the step asked for anything to be run or deferred: it needs a real actor. */
  effects: number;
}

const inertScopes = new WeakMap<InstanceMachine, Inert>();

function inertScope(machine: InstanceMachine): Inert {
  let inert = inertScopes.get(machine);
  if (inert) return inert;
  // Never started: it only lends the step a `self` and a `system` (which no resting transition uses).
  const self = createActor(machine, {
    input: { instanceId: 'inert', platform: 'process', startTimeoutMs: 0, restartPolicy: { initialBackoffMs: 0, maxBackoffMs: 0 } },
  });
  const made: Inert = {
    effects: 0,
    scope: undefined as unknown as Scope,
  };
  const count = () => {
    made.effects += 1;
  };
  const scope: ActorScope<MachineSnapshot<never, never, never, never, never, never, never, never>, never> = {
    self: self as never,
    id: '',
    sessionId: '',
    logger: count,
    defer: count,
    emit: count,
    stopChild: count,
    actionExecutor: count,
    system: self.system,
  };
  made.scope = scope as unknown as Scope;
  inertScopes.set(machine, made);
  return made;
}

/** The machine snapshot of a resting state (what an actor restored from it would hold). */
export function machineSnapshotOf(machine: InstanceMachine, resting: RestorableSnapshot): InstanceMachineSnapshot {
  return machine.resolveState({ value: resting.value, context: resting.context, historyValue: resting.historyValue as never });
}

/**
 * The snapshot after `event`, when the step from `resting` is pure data and
 * `atRest` holds for it; undefined when it needs a real actor.
 */
export function stepAtRest(
  machine: InstanceMachine,
  resting: RestorableSnapshot,
  event: InstanceEvent,
  atRest: (snapshot: InstanceMachineSnapshot) => boolean,
): InstanceMachineSnapshot | undefined {
  const inert = inertScope(machine);
  inert.effects = 0;
  let next: InstanceMachineSnapshot;
  try {
    next = machine.transition(machineSnapshotOf(machine, resting), event, inert.scope);
  } catch {
    return undefined; // the real actor meets the same error and reports it
  }
  return inert.effects === 0 && atRest(next) ? next : undefined;
}
