/**
 * A state machine as data: its states and every transition, read from the
 * definition itself (each state node's `on`, `after`, `always` and `invoke`
 * onDone/onError, plus the root's `on`, which applies in every state that is
 * not final). One extraction serves the Mermaid picture in the docs and the
 * model-based lifecycle tests, so neither keeps its own list. Pure.
 *
 * Supported shape: a flat machine (top-level states only). A nested state
 * throws, so that the day one is added, the picture and the tests say so
 * instead of silently leaving it out.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

export interface GraphState {
  name: string;
  final: boolean;
}

export interface GraphTransition {
  /** Readable and unique: `Running --instance.stop--> Stopping`, `Starting --xstate.error.actor.startWorkload [wantsStopped]--> Stopped`. */
  id: string;
  from: string;
  /** The target state; null when the transition only runs actions (the state is not left). */
  to: string | null;
  /** The event type the machine reacts to, as the machine names it (`xstate.after.…` ones carry the state's id). */
  event: string;
  /** `event` without the state id an `after` event carries (`xstate.after.untilRetry`); equal to `event` otherwise. */
  eventKind: string;
  /** The guard's name, when the transition has one. */
  guard: string | null;
  /** True when the state is left and entered again (its entry actions, invocations and timers start over). */
  reenter: boolean;
  /** Declared on the root: it applies in this state unless one of the state's own transitions for the event is taken. */
  inherited: boolean;
  /** The definition object, so that a taken transition (`machine.getTransitionData`) can be named. */
  definition: AnyTransitionDefinition;
}

export interface MachineGraph {
  initial: string;
  states: GraphState[];
  transitions: GraphTransition[];
}

/**
 * The human name of an event kind, as the pictures show it: `instance.stop`,
 * `startWorkload done`, `startWorkload failed`, `after untilRetry`. One
 * implementation for the Mermaid and DOT text and the machine document.
 */
export function eventLabel(eventKind: string): string {
  const done = /^xstate\.done\.actor\.(\w+)/.exec(eventKind);
  if (done) return `${done[1]} done`;
  const failed = /^xstate\.error\.actor\.(\w+)/.exec(eventKind);
  if (failed) return `${failed[1]} failed`;
  const after = /^xstate\.after\.(\w+)/.exec(eventKind);
  if (after) return `after ${after[1]}`;
  return eventKind;
}

/** An edge's label for one transition: the event's human name, its guard in brackets. */
export function transitionLabel(transition: Pick<GraphTransition, 'eventKind' | 'guard'>): string {
  return `${eventLabel(transition.eventKind)}${transition.guard ? ` [${transition.guard}]` : ''}`;
}

/** Whether a transition is drawn: it has a target other than its own state (re-entries and targetless ones are not). */
export function isDrawn(transition: { from: string; to: string | null }): transition is { from: string; to: string } {
  return transition.to !== null && transition.to !== transition.from;
}

function guardName(guard: AnyTransitionDefinition['guard']): string | null {
  if (guard === undefined) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'inline guard';
  if (typeof guard === 'object' && guard !== null && 'type' in guard && typeof guard.type === 'string') return guard.type;
  return 'guard';
}

/** `xstate.after.untilRetry.instance.Failed` → `xstate.after.untilRetry`. */
function eventKindOf(eventType: string, node: AnyStateNode): string {
  const suffix = `.${node.id}`;
  return eventType.startsWith('xstate.after.') && eventType.endsWith(suffix) ? eventType.slice(0, -suffix.length) : eventType;
}

function definitionsOf(node: AnyStateNode): [string, AnyTransitionDefinition[]][] {
  const entries: [string, AnyTransitionDefinition[]][] = [...node.transitions.entries()];
  if (node.always && node.always.length > 0) entries.push(['always', node.always]);
  return entries;
}

export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const states: GraphState[] = [];
  const transitions: GraphTransition[] = [];
  const add = (from: string, node: AnyStateNode, event: string, definition: AnyTransitionDefinition, inherited: boolean) => {
    const targets = definition.target ?? [];
    if (targets.length > 1) throw new Error(`machineGraph: ${from} --${event}--> has ${targets.length} targets; parallel targets are not supported`);
    const to = targets[0]?.key ?? null;
    const guard = guardName(definition.guard);
    const eventKind = eventKindOf(event, node);
    const base = `${from} --${eventKind}${guard ? ` [${guard}]` : ''}--> ${to ?? '(stays)'}`;
    const taken = transitions.filter((transition) => transition.id === base || transition.id.startsWith(`${base} #`)).length;
    transitions.push({
      id: taken === 0 ? base : `${base} #${taken + 1}`,
      from,
      to,
      event,
      eventKind,
      guard,
      reenter: definition.reenter === true,
      inherited,
      definition,
    });
  };
  for (const [name, node] of Object.entries(machine.root.states)) {
    if (Object.keys(node.states).length > 0) throw new Error(`machineGraph: state ${name} has child states; nested states are not supported`);
    const final = node.type === 'final';
    states.push({ name, final });
    for (const [event, definitions] of definitionsOf(node)) {
      for (const definition of definitions) add(name, node, event, definition, false);
    }
    // A final top-level state ends the machine: it takes no events, the root's included.
    if (final) continue;
    for (const [event, definitions] of definitionsOf(machine.root)) {
      for (const definition of definitions) add(name, machine.root, event, definition, true);
    }
  }
  return { initial: String(machine.config.initial), states, transitions };
}

/**
 * The graph transitions a step took: `definitions` as `machine.getTransitionData`
 * returns them for the state `from`. Throws for a definition the graph does not hold.
 */
export function transitionsTaken(graph: MachineGraph, from: string, definitions: readonly AnyTransitionDefinition[]): GraphTransition[] {
  return definitions.map((definition) => {
    const found = graph.transitions.find((transition) => transition.definition === definition && transition.from === from);
    if (!found) throw new Error(`machineGraph: a transition from ${from} on ${definition.eventType} is not in the graph`);
    return found;
  });
}
