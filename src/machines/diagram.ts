/**
 * Draws the lifecycle machine as a Mermaid state diagram, from the machine
 * definition itself (through `machineGraph`, which the model-based tests walk
 * too), so the picture in the docs can never drift from the code.
 */
import type { AnyStateMachine } from 'xstate';
import { isDrawn, machineGraph, transitionLabel, type MachineGraph } from './graph.js';

/** Transitions that stay in their state (targetless ones, re-entries) are not drawn. */
export function mermaidDiagram(graph: MachineGraph): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${graph.initial}`];
  const seen = new Set<string>();
  for (const state of graph.states) {
    if (state.final) lines.push(`  ${state.name} --> [*]`);
    for (const transition of graph.transitions) {
      if (transition.from !== state.name || !isDrawn(transition)) continue;
      const line = `  ${state.name} --> ${transition.to}: ${transitionLabel(transition)}`;
      if (!seen.has(line)) {
        seen.add(line);
        lines.push(line);
      }
    }
  }
  return lines.join('\n') + '\n';
}

export function lifecycleDiagram(machine: AnyStateMachine): string {
  return mermaidDiagram(machineGraph(machine));
}
