/**
 * Draws the lifecycle machine as a Mermaid state diagram, from the machine
 * definition itself (through `machineGraph`, which the model-based tests walk
 * too), so the picture in the docs can never drift from the code.
 */
import type { AnyStateMachine } from 'xstate';
import { machineGraph } from './graph.js';

function label(eventType: string): string {
  const done = /^xstate\.done\.actor\.(\w+)/.exec(eventType);
  if (done) return `${done[1]} done`;
  const failed = /^xstate\.error\.actor\.(\w+)/.exec(eventType);
  if (failed) return `${failed[1]} failed`;
  const after = /^xstate\.after\.(\w+)/.exec(eventType);
  if (after) return `after ${after[1]}`;
  return eventType;
}

/** Transitions that stay in their state (targetless ones, re-entries) are not drawn. */
export function lifecycleDiagram(machine: AnyStateMachine): string {
  const graph = machineGraph(machine);
  const lines = ['stateDiagram-v2', `  [*] --> ${graph.initial}`];
  const seen = new Set<string>();
  for (const state of graph.states) {
    if (state.final) lines.push(`  ${state.name} --> [*]`);
    for (const transition of graph.transitions) {
      if (transition.from !== state.name || transition.to === null || transition.to === state.name) continue;
      const guard = transition.guard ? ` [${transition.guard}]` : '';
      const line = `  ${state.name} --> ${transition.to}: ${label(transition.eventKind)}${guard}`;
      if (!seen.has(line)) {
        seen.add(line);
        lines.push(line);
      }
    }
  }
  return lines.join('\n') + '\n';
}
