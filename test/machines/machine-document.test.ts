/**
 * The machine document and its layout, checked against the machine itself
 * (`machineGraph`), not against a list written here: every state and
 * transition is in the document, every drawn edge stands for exactly the
 * transitions that leave their state, and the layout can be drawn as it is
 * (no overlapping boxes, edges that start and end at their states and cross
 * no other box, everything inside the canvas). The DOT text is checked
 * loosely, and by Graphviz itself when `dot` is installed.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { machineGraph, type MachineGraph } from '../../src/machines/graph.js';
import { createInstanceMachine } from '../../src/machines/instance.js';
import { mermaidDiagram } from '../../src/machines/diagram.js';
import { lifecycleDocument } from '../../src/machines/lifecycle-document.js';
import { instanceMachineDocument, instanceMachineText, machineDocument, machineDot } from '../../src/machines/machine-document.js';
import { layoutMachine, type LayoutNode, type MachineLayout } from '../../src/machines/machine-layout.js';
import { onPath } from '../helpers/engines.js';

const graph = machineGraph(createInstanceMachine({ now: Date.now }));
const drawn = (g: MachineGraph) => g.transitions.filter((transition) => transition.to !== null && transition.to !== transition.from);

type Point = [number, number];

/** The start point and the cubic segments of a path written as `M x y C … C …`. */
function parsePath(d: string): { start: Point; segments: [Point, Point, Point][] } {
  const numbers = (d.match(/-?\d+(?:\.\d+)?/g) ?? []).map(Number);
  const points: Point[] = [];
  for (let i = 0; i + 1 < numbers.length; i += 2) points.push([numbers[i]!, numbers[i + 1]!]);
  const [start, ...rest] = points;
  const segments: [Point, Point, Point][] = [];
  for (let i = 0; i + 2 < rest.length; i += 3) segments.push([rest[i]!, rest[i + 1]!, rest[i + 2]!]);
  return { start: start!, segments };
}

function cubicAt(start: Point, [c1, c2, end]: [Point, Point, Point], t: number): Point {
  const u = 1 - t;
  const at = (i: 0 | 1) => u * u * u * start[i] + 3 * u * u * t * c1[i] + 3 * u * t * t * c2[i] + t * t * t * end[i];
  return [at(0), at(1)];
}

/** Distance from a point to a box (0 inside). */
function distance([x, y]: Point, box: LayoutNode): number {
  const dx = Math.max(box.x - x, 0, x - (box.x + box.width));
  const dy = Math.max(box.y - y, 0, y - (box.y + box.height));
  return Math.hypot(dx, dy);
}

const strictlyInside = ([x, y]: Point, box: LayoutNode) => x > box.x + 1 && x < box.x + box.width - 1 && y > box.y + 1 && y < box.y + box.height - 1;

function checkLayout(t: ExecutionContext, layout: MachineLayout, g: MachineGraph) {
  t.deepEqual(layout.nodes.map((node) => node.state).sort(), g.states.map((state) => state.name).sort(), 'a box per state');
  for (const [i, a] of layout.nodes.entries()) {
    t.true(a.x >= 0 && a.y >= 0 && a.x + a.width <= layout.width && a.y + a.height <= layout.height, `${a.state} is inside the canvas`);
    t.true(a.width >= a.state.length * 6, `${a.state}'s box fits its name`);
    for (const b of layout.nodes.slice(i + 1)) {
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      t.true(apart, `${a.state} and ${b.state} do not overlap`);
    }
  }
  const node = (state: string) => layout.nodes.find((n) => n.state === state)!;
  const shapes = new Set<string>();
  for (const edge of layout.edges) {
    t.is(edge.id, `${edge.from}->${edge.to}`);
    t.is(edge.labels.length, edge.transitionIds.length);
    const { start, segments } = parsePath(edge.path);
    t.regex(edge.path, /^M [\d.-]+ [\d.-]+( C [\d.-]+ [\d.-]+, [\d.-]+ [\d.-]+, [\d.-]+ [\d.-]+)+$/, `${edge.id}: M then cubic segments`);
    t.true(segments.length >= 1);
    const end = segments.at(-1)![2];
    t.true(distance(start, node(edge.from)) <= 2, `${edge.id} starts at ${edge.from}`);
    t.true(distance(end, node(edge.to)) <= 2, `${edge.id} ends at ${edge.to}`);
    let from = start;
    for (const segment of segments) {
      for (let step = 0; step <= 40; step++) {
        const point = cubicAt(from, segment, step / 40);
        t.true(point[0] >= 0 && point[1] >= 0 && point[0] <= layout.width && point[1] <= layout.height, `${edge.id} stays on the canvas`);
        for (const other of layout.nodes) {
          if (strictlyInside(point, other)) t.fail(`${edge.id} runs through ${other.state} at ${point.join(',')}`);
        }
      }
      from = segment[2];
    }
    t.true(edge.labelX >= 0 && edge.labelX <= layout.width && edge.labelY >= 0 && edge.labelY <= layout.height, `${edge.id}'s label is on the canvas`);
    t.false(shapes.has(edge.path), `${edge.id} is not drawn on top of another edge`);
    shapes.add(edge.path);
  }
}

test('the document holds every state and every transition of the machine, without the definition objects', (t) => {
  const document = instanceMachineDocument();
  t.is(document.id, 'instance');
  t.is(document.initial, graph.initial);
  t.deepEqual(
    document.states,
    graph.states.map((state) => ({ name: state.name, initial: state.name === graph.initial, final: state.final })),
  );
  t.is(document.states.filter((state) => state.initial).length, 1);
  t.deepEqual(
    document.transitions.map(({ id, from, to, event, eventKind, guard, inherited, reenter }) => ({ id, from, to, event, eventKind, guard, inherited, reenter })),
    graph.transitions.map(({ id, from, to, event, eventKind, guard, inherited, reenter }) => ({ id, from, to, event, eventKind, guard, inherited, reenter })),
  );
  t.deepEqual(
    document.events.map((event) => event.kind),
    [...new Set(graph.transitions.map((transition) => transition.eventKind))],
  );
  t.deepEqual(document.guards, [...new Set(graph.transitions.flatMap((transition) => (transition.guard ? [transition.guard] : [])))]);
  // JSON in and out is the same document: nothing that JSON drops or changes.
  t.deepEqual(JSON.parse(JSON.stringify(document)), document);
  t.false(JSON.stringify(document).includes('"definition"'));
});

test('labels are the diagram’s names of the events', (t) => {
  const document = instanceMachineDocument();
  const label = (kind: string): string | undefined => document.events.find((event) => event.kind === kind)?.label;
  t.is(label('instance.stop'), 'instance.stop');
  t.is(label('xstate.done.actor.startWorkload'), 'startWorkload done');
  t.is(label('xstate.error.actor.startWorkload'), 'startWorkload failed');
  t.is(label('xstate.after.untilRetry'), 'after untilRetry');
  for (const transition of document.transitions) t.is(label(transition.eventKind), transition.label);
});

test('each drawn edge stands for exactly the transitions between its two states; none that stays is drawn', (t) => {
  const { layout, transitions } = instanceMachineDocument();
  const covered = layout.edges.flatMap((edge) => edge.transitionIds);
  t.deepEqual([...covered].sort(), drawn(graph).map((transition) => transition.id).sort());
  t.is(new Set(covered).size, covered.length, 'no transition on two edges');
  t.is(new Set(layout.edges.map((edge) => edge.id)).size, layout.edges.length, 'one edge per pair of states');
  for (const edge of layout.edges) {
    t.not(edge.from, edge.to);
    for (const id of edge.transitionIds) t.like(transitions.find((transition) => transition.id === id), { from: edge.from, to: edge.to });
  }
  // The pair goes both ways somewhere (Stopping ⇄ Failed …): two edges.
  t.true(layout.edges.some((edge) => layout.edges.some((other) => other.from === edge.to && other.to === edge.from)));
});

test('the layout can be drawn as it is: boxes apart, edges from their state to their state around the other boxes, all on the canvas', (t) => {
  checkLayout(t, instanceMachineDocument().layout, graph);
});

test('layers: the initial state on top, every edge that is not a back edge points down', (t) => {
  const { layout } = instanceMachineDocument();
  const y = (state: string) => layout.nodes.find((node) => node.state === state)!.y;
  t.true(layout.nodes.every((node) => y(graph.initial) <= node.y));
  t.true(layout.nodes.filter((node) => node.state !== graph.initial).every((node) => node.y > y(graph.initial)));
  // Pending → Starting → Running is the main line.
  t.true(y('Pending') < y('Starting') && y('Starting') < y('Running'));
});

test('the layout of small graphs: a cycle, a pair both ways, a state nothing reaches, names with odd characters', (t) => {
  const transition = (from: string, to: string | null, event: string, guard: string | null = null) => ({
    id: `${from} --${event}${guard ? ` [${guard}]` : ''}--> ${to ?? '(stays)'}`,
    from,
    to,
    event,
    eventKind: event,
    guard,
    reenter: false,
    inherited: false,
    definition: undefined as never,
  });
  const g: MachineGraph = {
    initial: 'A',
    states: [
      { name: 'A', final: false },
      { name: 'B "quoted"', final: false },
      { name: 'C\\back', final: false },
      { name: 'D', final: true },
      { name: 'Lonely', final: false },
    ],
    transitions: [
      transition('A', 'B "quoted"', 'go'),
      transition('B "quoted"', 'A', 'back'),
      transition('B "quoted"', 'C\\back', 'on'),
      transition('C\\back', 'A', 'loop', 'again'),
      transition('A', 'D', 'end'),
      transition('A', 'D', 'finish', 'now'),
      transition('A', 'A', 'self'),
      transition('A', null, 'noop'),
    ],
  };
  const layout = layoutMachine(g);
  checkLayout(t, layout, g);
  t.deepEqual(
    layout.edges.map((edge) => edge.id),
    ['A->B "quoted"', 'B "quoted"->A', 'B "quoted"->C\\back', 'C\\back->A', 'A->D'],
  );
  t.deepEqual(layout.edges.find((edge) => edge.id === 'A->D')?.labels, ['end', 'finish [now]']);
  const document = machineDocument('small', g);
  t.is(document.transitions.length, 8);
  const dot = machineDot(g);
  t.true(dot.includes('"B \\"quoted\\""'));
  t.true(dot.includes('"C\\\\back"'));
  t.true(dot.includes('label="end\\nfinish [now]"'));
  if (onPath('dot')) execFileSync('dot', ['-Tsvg'], { input: dot, stdio: ['pipe', 'ignore', 'pipe'] });
});

test('DOT: a node per state, the initial marker, the final states double, an edge per drawn pair with its labels', (t) => {
  const dot = machineDot(graph, 'instance');
  t.regex(dot, /^digraph "instance" \{\n/);
  t.regex(dot, /\}\n$/);
  const nodes = [...dot.matchAll(/^ {2}"((?:[^"\\]|\\.)*)"(?: \[([^\]]*)\])?;$/gm)].map((match) => ({ name: match[1]!, attributes: match[2] ?? '' }));
  for (const state of graph.states) {
    const node = nodes.find((entry) => entry.name === state.name);
    t.truthy(node, `${state.name} is a node`);
    t.is(/peripheries=2|doublecircle/.test(node?.attributes ?? ''), state.final, `${state.name} ${state.final ? 'is' : 'is not'} drawn as final`);
  }
  const edges = [...dot.matchAll(/^ {2}"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"(?: \[label="((?:[^"\\]|\\.)*)"\])?;$/gm)].map((match) => ({
    from: match[1]!,
    to: match[2]!,
    labels: match[3]?.split('\\n') ?? [],
  }));
  const marker = edges.filter((edge) => !graph.states.some((state) => state.name === edge.from));
  t.deepEqual(marker.map((edge) => edge.to), [graph.initial], 'one initial marker, into the initial state');
  const pairs = new Map<string, string[]>();
  for (const transition of drawn(graph)) {
    const key = `${transition.from}->${transition.to}`;
    pairs.set(key, [...(pairs.get(key) ?? []), transition.guard ? `[${transition.guard}]` : '']);
  }
  const stateEdges = edges.filter((edge) => !marker.includes(edge));
  t.deepEqual(stateEdges.map((edge) => `${edge.from}->${edge.to}`).sort(), [...pairs.keys()].sort());
  for (const edge of stateEdges) {
    const guards = pairs.get(`${edge.from}->${edge.to}`)!;
    t.is(edge.labels.length, guards.length, `${edge.from}->${edge.to}: a label line per transition`);
    guards.forEach((guard, n) => t.true(edge.labels[n]!.endsWith(guard), `${edge.labels[n]} has its guard ${guard}`));
  }
});

test('DOT: Graphviz reads it (when dot is installed)', (t) => {
  if (!onPath('dot')) {
    t.log('skipped: the dot program (Graphviz) is not on PATH');
    t.pass();
    return;
  }
  const svg = execFileSync('dot', ['-Tsvg'], { input: machineDot(graph, 'instance'), encoding: 'utf8' });
  t.regex(svg, /<svg/);
});

test('the renderings: JSON is the document, Mermaid is the diagram in docs/lifecycle.md, computed once', (t) => {
  t.deepEqual(JSON.parse(instanceMachineText('json')), instanceMachineDocument());
  t.is(instanceMachineText('mermaid'), mermaidDiagram(graph));
  t.true(lifecycleDocument().includes(instanceMachineText('mermaid')));
  t.is(instanceMachineText('dot'), machineDot(graph, 'instance'));
  t.is(instanceMachineText('json'), instanceMachineText('json'));
});
