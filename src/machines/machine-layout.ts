/**
 * A layered (Sugiyama-style) layout of a machine graph, for drawing it as SVG
 * in a browser without a layout library there. Pure: the same graph gives the
 * same picture.
 *
 * - Layers top to bottom: a flow order of the states (a greedy feedback arc
 *   set, the initial state first) says which edges point down; each state's
 *   layer is the longest path to it over those, then states move to shorten
 *   edges, up to three states a layer. The initial state is alone on layer 0.
 *   An edge may stay within a layer (one pair of states a layer, side by side).
 * - Order within a layer: a few barycenter sweeps, keeping the order with the
 *   fewest crossings.
 * - Edges: transitions between the same two states are one drawn edge; those
 *   that stay in their state are not drawn. An edge within a layer arches
 *   through the gap between its two boxes, widened for its labels. An edge
 *   between neighbouring layers is one cubic curve in the gap between them; a longer one (a back
 *   edge or one that skips layers) runs down or up a vertical channel beside
 *   the nodes of the layers it passes, so that it never crosses a node box.
 *   Each edge has its own port on a node's side, so A→B and B→A never coincide.
 *
 * Coordinates are px, origin top-left; a node's x, y is its box's top-left.
 */
import { isDrawn, transitionLabel, type MachineGraph } from './graph.js';

export interface LayoutNode {
  state: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LayoutEdge {
  /** `${from}->${to}`. */
  id: string;
  from: string;
  to: string;
  /** Every transition this edge stands for, in the graph's order. */
  transitionIds: string[];
  /** One per transition: the event's name and its guard in brackets. */
  labels: string[];
  /** SVG path data: `M` then cubic `C` segments. */
  path: string;
  /** The centre of the label block. */
  labelX: number;
  labelY: number;
}

export interface MachineLayout {
  width: number;
  height: number;
  nodes: LayoutNode[];
  edges: LayoutEdge[];
}

/** Which end of an edge a port on a node's side is. */
type PortEnd = 'source' | 'target';

const CHAR_WIDTH = 9;
const NODE_PADDING = 32;
const NODE_HEIGHT = 40;
const NODE_GAP = 60;
const LAYER_GAP = 110;
const MARGIN = 24;
/** Room kept between a channel and a node box, and between two channels. */
const CHANNEL_CLEARANCE = 14;
/** Label size estimates, to keep labels inside the canvas. */
const LABEL_CHAR_WIDTH = 6.5;
const LABEL_LINE_HEIGHT = 14;
const SWEEPS = 6;
/** An edge within a layer: its room from the boxes beside its labels, its distance from the boxes' middle, its arch. */
const FLAT_LABEL_CLEARANCE = 16;
const FLAT_OFFSET = 8;
const FLAT_BEND = 32;
/** Points per curve tried for a label. */
const LABEL_STEPS = 12;

type Point = [number, number];
/** A cubic segment's two control points and end point (it starts where the previous one ended). */
type Cubic = [Point, Point, Point];

interface DrawnPair {
  from: string;
  to: string;
  transitionIds: string[];
  labels: string[];
}

/** Transitions between the same two states as one edge, in the order the graph first names them. */
export function drawnPairs(graph: MachineGraph): DrawnPair[] {
  const pairs = new Map<string, DrawnPair>();
  for (const transition of graph.transitions) {
    if (!isDrawn(transition)) continue;
    const id = `${transition.from}->${transition.to}`;
    let pair = pairs.get(id);
    if (pair === undefined) {
      pair = { from: transition.from, to: transition.to, transitionIds: [], labels: [] };
      pairs.set(id, pair);
    }
    pair.transitionIds.push(transition.id);
    pair.labels.push(transitionLabel(transition));
  }
  return [...pairs.values()];
}

/**
 * A state order that most edges follow (Eades, Lin and Smyth's greedy heuristic for a small feedback arc set):
 * sinks go to the end and sources to the front as they appear, otherwise the state with the most outgoing less
 * incoming edges goes next, preferring states that the placed ones lead to. The initial state is put first, and
 * ties go to the state defined first, so the main flow of a machine reads top to bottom. Edges against this order are the ones drawn upward.
 */
function flowOrder(states: string[], initial: string, pairs: DrawnPair[]): Map<string, number> {
  const left = new Set(states);
  const front: string[] = [];
  const back: string[] = [];
  const degree = (state: string, direction: 'in' | 'out') =>
    pairs.filter((pair) => (direction === 'out' ? pair.from === state && left.has(pair.to) : pair.to === state && left.has(pair.from))).length;
  const take = (state: string, into: string[], atFront: boolean) => {
    left.delete(state);
    if (atFront) into.unshift(state);
    else into.push(state);
  };
  if (left.has(initial)) take(initial, front, false);
  while (left.size > 0) {
    let changed = true;
    while (changed) {
      changed = false;
      for (const state of [...left].reverse()) {
        if (degree(state, 'out') === 0) {
          take(state, back, true);
          changed = true;
        }
      }
      for (const state of [...left]) {
        if (degree(state, 'in') === 0) {
          take(state, front, false);
          changed = true;
        }
      }
    }
    if (left.size === 0) break;
    let best: string | undefined;
    let bestDelta = -Infinity;
    // States the placed ones lead to come first (the flow reads on from where it is), then any.
    const placed = new Set(front);
    const next = [...left].filter((state) => pairs.some((pair) => pair.to === state && placed.has(pair.from)));
    for (const state of next.length > 0 ? next : left) {
      const delta = degree(state, 'out') - degree(state, 'in');
      if (delta > bestDelta) {
        best = state;
        bestDelta = delta;
      }
    }
    take(best!, front, false);
  }
  return new Map([...front, ...back].map((state, index) => [state, index]));
}

/** At most this many states share a layer, so the picture grows wide but not into a single row. */
const LAYER_CAPACITY = 3;
/**
 * Costs of a layering: an edge that runs up (more when the flow order has it down, so the main flow stays
 * pointing down), an extra layer an edge skips, and a layer of height.
 */
const COST_UPWARD = 1.6;
const COST_AGAINST_FLOW = 4;
const COST_SKIP = 1;
const COST_LAYER = 1.2;
/** An edge within a layer: drawn beside the boxes, so cheap, but at most one pair of states per layer. */
const COST_FLAT = 1.2;
const IMPROVE_ROUNDS = 50;

/**
 * Layers: the longest path over the edges that follow the flow order, then states moved one at a time to the
 * layer that most lowers the cost (upward edges, skipped layers, height), keeping the initial state alone on top,
 * no edge within a layer and no layer over capacity. Deterministic: states and layers are tried in a fixed order.
 */
function assignLayers(states: string[], initial: string, pairs: DrawnPair[]): Map<string, number> {
  const rank = flowOrder(states, initial, pairs);
  const forward = pairs.filter((pair) => (rank.get(pair.from) ?? 0) < (rank.get(pair.to) ?? 0));
  // A valid start: in flow order, each state on the first layer below all its neighbours earlier in that order
  // (so no edge is within a layer yet) that has room; the initial state, first, alone on layer 0.
  const layer = new Map<string, number>();
  const filled = new Map<number, number>();
  for (const state of [...states].sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0))) {
    let l = state === initial ? 0 : 1;
    for (const pair of pairs) {
      const other = pair.from === state ? pair.to : pair.to === state ? pair.from : undefined;
      if (other !== undefined && layer.has(other)) l = Math.max(l, layer.get(other)! + 1);
    }
    while ((filled.get(l) ?? 0) >= LAYER_CAPACITY) l++;
    layer.set(state, l);
    filled.set(l, (filled.get(l) ?? 0) + 1);
  }
  const compact = (candidate: Map<string, number>) => {
    const used = [...new Set(candidate.values())].sort((a, b) => a - b);
    return new Map([...candidate].map(([state, l]) => [state, used.indexOf(l)]));
  };
  const cost = (candidate: Map<string, number>): number => {
    const counts = new Map<number, number>();
    for (const l of candidate.values()) counts.set(l, (counts.get(l) ?? 0) + 1);
    if ([...counts.values()].some((count) => count > LAYER_CAPACITY)) return Infinity;
    if (candidate.has(initial) && counts.get(candidate.get(initial)!) !== 1) return Infinity;
    let total = counts.size * COST_LAYER;
    const flatPairs = new Map<number, string>();
    for (const pair of pairs) {
      const span = (candidate.get(pair.to) ?? 0) - (candidate.get(pair.from) ?? 0);
      // The spine of the flow (each state to the next in flow order) always points down: the main line reads top to bottom.
      if (span <= 0 && (rank.get(pair.to) ?? 0) === (rank.get(pair.from) ?? 0) + 1) return Infinity;
      if (span === 0) {
        // Its two states must sit side by side, which only one pair per layer surely can.
        const key = [pair.from, pair.to].sort().join('\u0000');
        const l = candidate.get(pair.from) ?? 0;
        if ((flatPairs.get(l) ?? key) !== key) return Infinity;
        flatPairs.set(l, key);
        total += COST_FLAT;
        continue;
      }
      total += (Math.abs(span) - 1) * COST_SKIP + (span > 0 ? 0 : forward.includes(pair) ? COST_AGAINST_FLOW : COST_UPWARD);
    }
    return total;
  };
  let current = compact(layer);
  let currentCost = cost(current);
  for (let round = 0; round < IMPROVE_ROUNDS; round++) {
    let best: { layering: Map<string, number>; cost: number } | undefined;
    const depth = Math.max(0, ...current.values());
    for (const state of states) {
      if (state === initial) continue;
      // Each existing layer, and a new one between or below them (half steps, compacted away).
      for (let target = 0.5; target <= depth + 1; target += 0.5) {
        if (target === current.get(state)) continue;
        const moved = compact(new Map(current).set(state, target));
        const movedCost = cost(moved);
        if (movedCost < (best?.cost ?? currentCost) - 1e-9) best = { layering: moved, cost: movedCost };
      }
    }
    if (best === undefined) break;
    current = best.layering;
    currentCost = best.cost;
  }
  return current;
}

/** Crossings of edges drawn as straight lines between (position in layer, layer) points. */
function crossings(order: string[][], layer: Map<string, number>, pairs: DrawnPair[]): number {
  const position = new Map<string, number>();
  for (const row of order) row.forEach((state, index) => position.set(state, (index + 1) / (row.length + 1)));
  const segments = pairs.map((pair): [Point, Point] => {
    const a: Point = [position.get(pair.from) ?? 0, layer.get(pair.from) ?? 0];
    const b: Point = [position.get(pair.to) ?? 0, layer.get(pair.to) ?? 0];
    return a[1] <= b[1] ? [a, b] : [b, a];
  });
  const side = (p: Point, q: Point, r: Point) => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
  let count = 0;
  for (let i = 0; i < segments.length; i++) {
    for (let j = i + 1; j < segments.length; j++) {
      const [a, b] = segments[i]!;
      const [c, d] = segments[j]!;
      if (side(a, b, c) * side(a, b, d) < 0 && side(c, d, a) * side(c, d, b) < 0) count++;
    }
  }
  return count;
}

/** The row with the two states of an edge within it side by side (the later one moved next to the earlier). */
function keepFlatTogether(row: string[], pairs: DrawnPair[]): string[] {
  const flat = pairs.find((pair) => row.includes(pair.from) && row.includes(pair.to));
  if (flat === undefined) return row;
  const [first, second] = row.indexOf(flat.from) < row.indexOf(flat.to) ? [flat.from, flat.to] : [flat.to, flat.from];
  const rest = row.filter((state) => state !== second);
  rest.splice(rest.indexOf(first) + 1, 0, second);
  return rest;
}

/** Barycenter sweeps down and up; the order with the fewest crossings wins (the first one on a tie). */
function orderLayers(states: string[], layer: Map<string, number>, pairs: DrawnPair[]): string[][] {
  const depth = Math.max(0, ...layer.values());
  const order: string[][] = Array.from({ length: depth + 1 }, (_, l) => keepFlatTogether(states.filter((state) => layer.get(state) === l), pairs));
  let best = order.map((row) => [...row]);
  let bestCrossings = crossings(best, layer, pairs);
  const neighbours = (state: string, above: boolean) =>
    pairs.flatMap((pair) => {
      const other = pair.from === state ? pair.to : pair.to === state ? pair.from : undefined;
      if (other === undefined) return [];
      const otherLayer = layer.get(other) ?? 0;
      const own = layer.get(state) ?? 0;
      return (above ? otherLayer < own : otherLayer > own) ? [other] : [];
    });
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    const down = sweep % 2 === 0;
    const position = new Map<string, number>();
    for (const row of order) row.forEach((state, index) => position.set(state, (index + 1) / (row.length + 1)));
    const rows = down ? order.map((_, l) => l) : order.map((_, l) => depth - l);
    for (const l of rows) {
      const row = order[l]!;
      const keyed = row.map((state, index) => {
        const around = neighbours(state, down).map((other) => position.get(other) ?? 0);
        const key = around.length > 0 ? around.reduce((sum, value) => sum + value, 0) / around.length : (index + 1) / (row.length + 1);
        return { state, key, index };
      });
      keyed.sort((a, b) => a.key - b.key || a.index - b.index);
      order[l] = keepFlatTogether(
        keyed.map((entry) => entry.state),
        pairs,
      );
      order[l]!.forEach((state, index) => position.set(state, (index + 1) / (order[l]!.length + 1)));
    }
    const count = crossings(order, layer, pairs);
    if (count < bestCrossings) {
      bestCrossings = count;
      best = order.map((row) => [...row]);
    }
  }
  return best;
}

const round = (value: number) => Math.round(value * 10) / 10;

function cubicAt(start: Point, [c1, c2, end]: Cubic, t: number): Point {
  const u = 1 - t;
  const at = (i: 0 | 1) => u * u * u * start[i] + 3 * u * u * t * c1[i] + 3 * u * t * t * c2[i] + t * t * t * end[i];
  return [at(0), at(1)];
}

/** A curve from a port to another that leaves and arrives vertically (its control points share the middle height). */
function sCurve(from: Point, to: Point): Cubic {
  const middle = (from[1] + to[1]) / 2;
  return [[from[0], middle], [to[0], middle], to];
}

/** A straight line as a cubic, so a path is one kind of segment throughout. */
function line(from: Point, to: Point): Cubic {
  return [[from[0] + (to[0] - from[0]) / 3, from[1] + (to[1] - from[1]) / 3], [from[0] + (2 * (to[0] - from[0])) / 3, from[1] + (2 * (to[1] - from[1])) / 3], to];
}

export function layoutMachine(graph: MachineGraph): MachineLayout {
  const states = graph.states.map((state) => state.name);
  const pairs = drawnPairs(graph);
  const layer = assignLayers(states, graph.initial, pairs);
  const order = orderLayers(states, layer, pairs);

  // Boxes: each layer a row, the rows centred on the widest one.
  const widthOf = (state: string) => state.length * CHAR_WIDTH + NODE_PADDING;
  const flat = (pair: DrawnPair) => layer.get(pair.from) === layer.get(pair.to);
  // Between the two states of an edge within a layer, room for its labels, which sit in that gap.
  const gapAfter = (row: string[], index: number): number => {
    const a = row[index];
    const b = row[index + 1];
    const between = pairs.filter((pair) => flat(pair) && ((pair.from === a && pair.to === b) || (pair.from === b && pair.to === a)));
    const labelWidth = Math.max(0, ...between.flatMap((pair) => pair.labels.map((label) => label.length * LABEL_CHAR_WIDTH)));
    return between.length === 0 ? NODE_GAP : Math.max(NODE_GAP, labelWidth + 2 * FLAT_LABEL_CLEARANCE);
  };
  const rowWidth = (row: string[]) => row.reduce((sum, state, index) => sum + widthOf(state) + (index + 1 < row.length ? gapAfter(row, index) : 0), 0);
  const widest = Math.max(0, ...order.map(rowWidth));
  const layerTop = (l: number) => l * (NODE_HEIGHT + LAYER_GAP);
  const layerBottom = (l: number) => layerTop(l) + NODE_HEIGHT;
  const boxes = new Map<string, LayoutNode>();
  order.forEach((row, l) => {
    let x = (widest - rowWidth(row)) / 2;
    row.forEach((state, index) => {
      boxes.set(state, { state, x, y: layerTop(l), width: widthOf(state), height: NODE_HEIGHT });
      x += widthOf(state) + gapAfter(row, index);
    });
  });
  const box = (state: string) => boxes.get(state)!;
  const centreX = (state: string) => box(state).x + box(state).width / 2;

  // Ports: an edge leaves downward from a node's bottom and upward from its top (and arrives the same way),
  // each edge at its own point of the side, ordered by where its other end is so that they do not cross there.
  const ports = new Map<string, number>();
  const portKey = (pair: DrawnPair, end: PortEnd) => `${pair.from}->${pair.to}:${end}`;
  for (const state of states) {
    for (const side of ['top', 'bottom'] as const) {
      const attached = pairs.flatMap((pair) => {
        if (flat(pair)) return [];
        const down = (layer.get(pair.to) ?? 0) > (layer.get(pair.from) ?? 0);
        const ends: { end: PortEnd; other: string }[] = [];
        if (pair.from === state && (side === 'bottom') === down) ends.push({ end: 'source', other: pair.to });
        if (pair.to === state && (side === 'top') === down) ends.push({ end: 'target', other: pair.from });
        return ends.map((end) => ({ pair, ...end }));
      });
      attached.sort((a, b) => centreX(a.other) - centreX(b.other) || (a.end === 'source' ? -1 : 1));
      const { x, width } = box(state);
      attached.forEach((entry, index) => ports.set(portKey(entry.pair, entry.end), x + (width * (index + 1)) / (attached.length + 1)));
    }
  }

  // Channels of long edges: a free x beside the boxes of every layer the edge passes, away from other channels there.
  const channels: { x: number; low: number; high: number }[] = [];
  const channelX = (low: number, high: number, wanted: number): number => {
    const blocked: [number, number][] = [];
    for (let l = low; l <= high; l++) {
      for (const state of order[l] ?? []) blocked.push([box(state).x - CHANNEL_CLEARANCE, box(state).x + box(state).width + CHANNEL_CLEARANCE]);
      // Nor through the gap of an edge within the layer, where that edge and its labels are.
      for (const pair of pairs) {
        if (!flat(pair) || layer.get(pair.from) !== l) continue;
        const [a, b] = [box(pair.from), box(pair.to)];
        blocked.push([Math.min(a.x, b.x), Math.max(a.x + a.width, b.x + b.width)]);
      }
    }
    for (const channel of channels) {
      if (channel.low <= high && low <= channel.high) blocked.push([channel.x - CHANNEL_CLEARANCE, channel.x + CHANNEL_CLEARANCE]);
    }
    const free = (x: number) => blocked.every(([left, right]) => x <= left || x >= right);
    const candidates = [wanted, ...blocked.flatMap(([left, right]) => [left, right])].filter(free);
    candidates.sort((a, b) => Math.abs(a - wanted) - Math.abs(b - wanted) || a - b);
    const x = candidates[0] ?? wanted;
    channels.push({ x, low, high });
    return x;
  };

  const edges: { pair: DrawnPair; start: Point; segments: Cubic[]; label: Point }[] = [];
  // Short edges first: their label positions do not depend on channels. Long ones by span, so the shorter hug the nodes.
  const span = (pair: DrawnPair) => Math.abs((layer.get(pair.to) ?? 0) - (layer.get(pair.from) ?? 0));
  const byLength = [...pairs].sort((a, b) => span(a) - span(b));
  for (const pair of byLength) {
    const fromLayer = layer.get(pair.from) ?? 0;
    const toLayer = layer.get(pair.to) ?? 0;
    const down = toLayer > fromLayer;
    const start: Point = [ports.get(portKey(pair, 'source'))!, down ? layerBottom(fromLayer) : layerTop(fromLayer)];
    const end: Point = [ports.get(portKey(pair, 'target'))!, down ? layerTop(toLayer) : layerBottom(toLayer)];
    if (span(pair) === 0) {
      // Within a layer: from one box's side to its neighbour's, arched in the gap between them (rightward ones
      // above the middle, leftward ones below, so a pair both ways never coincides).
      const [a, b] = [box(pair.from), box(pair.to)];
      const rightward = a.x < b.x;
      const y = a.y + a.height / 2 + (rightward ? -FLAT_OFFSET : FLAT_OFFSET);
      const bend = rightward ? -FLAT_BEND : FLAT_BEND;
      const from: Point = [rightward ? a.x + a.width : a.x, y];
      const to: Point = [rightward ? b.x : b.x + b.width, y];
      const segment: Cubic = [[from[0] + (to[0] - from[0]) / 4, y + bend], [from[0] + (3 * (to[0] - from[0])) / 4, y + bend], to];
      edges.push({ pair, start: from, segments: [segment], label: cubicAt(from, segment, 0.5) });
      continue;
    }
    if (span(pair) === 1) {
      // Between neighbouring layers: the whole curve stays in the gap, where there are no boxes.
      const segment = sCurve(start, end);
      edges.push({ pair, start, segments: [segment], label: cubicAt(start, segment, 0.5) });
      continue;
    }
    // Into the gap next to the source, along the channel past the layers between, out of the gap next to the target.
    const low = Math.min(fromLayer, toLayer) + 1;
    const high = Math.max(fromLayer, toLayer) - 1;
    const x = channelX(low, high, (start[0] + end[0]) / 2);
    const enter: Point = [x, down ? layerTop(fromLayer + 1) : layerBottom(fromLayer - 1)];
    const leave: Point = [x, down ? layerBottom(toLayer - 1) : layerTop(toLayer + 1)];
    const first = sCurve(start, enter);
    // The label in the gap next to the source, not on the channel, where it would cover the boxes beside it.
    edges.push({ pair, start, segments: [first, line(enter, leave), sCurve(leave, end)], label: cubicAt(start, first, 0.5) });
  }

  // Labels: each at the point of its own edge where its block covers no box and the least of the labels placed before it,
  // preferring the middle of the edge's first curve (it reads as belonging to the edge's source).
  type Block = { left: number; right: number; top: number; bottom: number };
  const labelBlock = (pair: DrawnPair, [x, y]: Point): Block => {
    const halfWidth = (Math.max(...pair.labels.map((label) => label.length)) * LABEL_CHAR_WIDTH) / 2;
    const halfHeight = (pair.labels.length * LABEL_LINE_HEIGHT) / 2;
    return { left: x - halfWidth, right: x + halfWidth, top: y - halfHeight, bottom: y + halfHeight };
  };
  const overlap = (a: Block, b: Block) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const nodeBlocks = [...boxes.values()].map((node) => ({ left: node.x - 4, right: node.x + node.width + 4, top: node.y - 4, bottom: node.y + node.height + 4 }));
  const placed: Block[] = [];
  for (const edge of edges) {
    const candidates: { point: Point; preference: number }[] = [];
    let from = edge.start;
    edge.segments.forEach((segment, index) => {
      for (let step = 1; step < LABEL_STEPS; step++) {
        const t = step / LABEL_STEPS;
        candidates.push({ point: cubicAt(from, segment, t), preference: index === 0 ? Math.abs(t - 0.5) : 1 + index + t });
      }
      from = segment[2];
    });
    let best: { point: Point; cost: number } | undefined;
    for (const candidate of candidates) {
      const block = labelBlock(edge.pair, candidate.point);
      if (nodeBlocks.some((node) => overlap(block, node) > 0)) continue;
      const cost = placed.reduce((sum, other) => sum + overlap(block, other), 0) * 4 + candidate.preference * 40;
      if (best === undefined || cost < best.cost) best = { point: candidate.point, cost };
    }
    edge.label = best?.point ?? edge.label;
    placed.push(labelBlock(edge.pair, edge.label));
  }

  // The canvas: everything drawn (boxes, control points — a cubic stays inside them — and label blocks), plus a margin.
  let left = 0;
  let top = 0;
  let right = widest;
  let bottom = layerBottom(order.length - 1);
  for (const edge of edges) {
    for (const [x, y] of [edge.start, ...edge.segments.flat()]) {
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
    const block = labelBlock(edge.pair, edge.label);
    left = Math.min(left, block.left);
    right = Math.max(right, block.right);
    top = Math.min(top, block.top);
    bottom = Math.max(bottom, block.bottom);
  }
  const dx = MARGIN - left;
  const dy = MARGIN - top;
  const at = ([x, y]: Point) => `${round(x + dx)} ${round(y + dy)}`;
  const drawn = new Map(
    edges.map((edge) => [
      edge.pair,
      {
        path: `M ${at(edge.start)} ${edge.segments.map((segment) => `C ${segment.map(at).join(', ')}`).join(' ')}`,
        labelX: round(edge.label[0] + dx),
        labelY: round(edge.label[1] + dy),
      },
    ]),
  );
  return {
    width: Math.ceil(right - left + 2 * MARGIN),
    height: Math.ceil(bottom - top + 2 * MARGIN),
    nodes: states.map((state) => {
      const node = box(state);
      return { ...node, x: round(node.x + dx), y: round(node.y + dy) };
    }),
    edges: pairs.map((pair) => ({ id: `${pair.from}->${pair.to}`, from: pair.from, to: pair.to, transitionIds: pair.transitionIds, labels: pair.labels, ...drawn.get(pair)! })),
  };
}
