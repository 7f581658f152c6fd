/**
 * The instance lifecycle machine as data for a client that draws it (the web
 * console): its states, every transition, the events and guards, and a
 * ready layout; plus the same graph as Graphviz DOT. Pure, and JSON-safe:
 * the graph's `definition` objects are left out.
 */
import { eventLabel, machineGraph, type MachineGraph } from './graph.js';
import { createInstanceMachine } from './instance.js';
import { mermaidDiagram } from './diagram.js';
import { drawnPairs, layoutMachine, type MachineLayout } from './machine-layout.js';

export interface MachineDocumentState {
  name: string;
  initial: boolean;
  final: boolean;
}

export interface MachineDocumentTransition {
  id: string;
  from: string;
  /** null: the transition only runs actions (the state is not left). */
  to: string | null;
  event: string;
  eventKind: string;
  /** The event's human name (`startWorkload done`), as the diagrams show it; the guard is separate. */
  label: string;
  guard: string | null;
  inherited: boolean;
  reenter: boolean;
}

export interface MachineDocument {
  id: string;
  initial: string;
  states: MachineDocumentState[];
  transitions: MachineDocumentTransition[];
  /** Each event kind once, in the order the transitions first name it. */
  events: { kind: string; label: string }[];
  /** Each guard name once. */
  guards: string[];
  layout: MachineLayout;
}

/** The machines the API describes, by id. */
export const machineIds = ['instance'] as const;
export type MachineId = (typeof machineIds)[number];

export function machineDocument(id: string, graph: MachineGraph): MachineDocument {
  const transitions = graph.transitions.map((transition) => ({
    id: transition.id,
    from: transition.from,
    to: transition.to,
    event: transition.event,
    eventKind: transition.eventKind,
    label: eventLabel(transition.eventKind),
    guard: transition.guard,
    inherited: transition.inherited,
    reenter: transition.reenter,
  }));
  const events = [...new Map(transitions.map((transition) => [transition.eventKind, { kind: transition.eventKind, label: transition.label }])).values()];
  const guards = [...new Set(transitions.flatMap((transition) => (transition.guard === null ? [] : [transition.guard])))];
  return {
    id,
    initial: graph.initial,
    states: graph.states.map((state) => ({ name: state.name, initial: state.name === graph.initial, final: state.final })),
    transitions,
    events,
    guards,
    layout: layoutMachine(graph),
  };
}

/** The instance machine's graph; the clock is never read, only the definition. */
export function instanceMachineGraph(): MachineGraph {
  return machineGraph(createInstanceMachine({ now: Date.now }));
}

export function instanceMachineDocument(): MachineDocument {
  return machineDocument('instance', instanceMachineGraph());
}

/** A DOT double-quoted string: backslashes and quotes escaped, line breaks as DOT's `\n`. */
function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/**
 * Graphviz DOT: a point marks the initial state, final states have a double
 * border, and each drawn pair of states is one edge whose label lists its
 * transitions (guards in brackets), one a line. Transitions that stay in
 * their state are not drawn, as in the Mermaid diagram.
 */
export function machineDot(graph: MachineGraph, name = 'machine'): string {
  // The initial marker's node name must not be a state's.
  let marker = '__initial__';
  while (graph.states.some((state) => state.name === marker)) marker += '_';
  const lines = [
    `digraph ${dotString(name)} {`,
    '  rankdir=TB;',
    '  node [shape=box, style=rounded, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
    `  ${dotString(marker)} [shape=point, width=0.15, label=""];`,
  ];
  for (const state of graph.states) {
    lines.push(`  ${dotString(state.name)}${state.final ? ' [peripheries=2]' : ''};`);
  }
  lines.push(`  ${dotString(marker)} -> ${dotString(graph.initial)};`);
  for (const pair of drawnPairs(graph)) {
    // Joined with a real line break, which dotString writes as DOT's \n (centred lines).
    lines.push(`  ${dotString(pair.from)} -> ${dotString(pair.to)} [label=${dotString(pair.labels.join('\n'))}];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

export const machineFormats = ['json', 'mermaid', 'dot'] as const;
export type MachineFormat = (typeof machineFormats)[number];

/** What each format is served as. */
export const machineMediaTypes: Record<MachineFormat, string> = {
  json: 'application/json; charset=utf-8',
  mermaid: 'text/plain; charset=utf-8',
  dot: 'text/vnd.graphviz; charset=utf-8',
};

const renderings = new Map<MachineFormat, string>();

/**
 * The instance machine in a format, as text (JSON pretty-printed). Computed
 * on first use and kept: the machine is fixed when the code is, so it never
 * changes while the process runs.
 */
export function instanceMachineText(format: MachineFormat): string {
  let text = renderings.get(format);
  if (text === undefined) {
    const graph = instanceMachineGraph();
    text = format === 'json' ? JSON.stringify(machineDocument('instance', graph), null, 2) + '\n' : format === 'mermaid' ? mermaidDiagram(graph) : machineDot(graph, 'instance');
    renderings.set(format, text);
  }
  return text;
}
