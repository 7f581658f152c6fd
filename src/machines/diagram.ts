/**
 * Draws the lifecycle machine as a Mermaid state diagram, from the machine
 * definition itself, so the picture in the docs can never drift from the code.
 */
import type { AnyStateMachine } from 'xstate';

function label(eventType: string): string {
  const done = /^xstate\.done\.actor\.(\w+)/.exec(eventType);
  if (done) return `${done[1]} done`;
  const failed = /^xstate\.error\.actor\.(\w+)/.exec(eventType);
  if (failed) return `${failed[1]} failed`;
  const after = /^xstate\.after\.(\w+)/.exec(eventType);
  if (after) return `after ${after[1]}`;
  return eventType;
}

export function lifecycleDiagram(machine: AnyStateMachine): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${String(machine.config.initial)}`];
  const seen = new Set<string>();
  for (const [name, node] of Object.entries(machine.root.states)) {
    if (node.type === 'final') lines.push(`  ${name} --> [*]`);
    for (const [eventType, transitions] of node.transitions) {
      for (const transition of transitions) {
        for (const target of transition.target ?? []) {
          if (target.key === name) continue;
          const guardName = typeof transition.guard === 'string' ? transition.guard : undefined;
          const guard = guardName ? ` [${guardName}]` : '';
          const line = `  ${name} --> ${target.key}: ${label(eventType)}${guard}`;
          if (!seen.has(line)) {
            seen.add(line);
            lines.push(line);
          }
        }
      }
    }
  }
  return lines.join('\n') + '\n';
}
