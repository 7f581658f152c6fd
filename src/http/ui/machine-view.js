// @ts-check
/**
 * The lifecycle machine drawn from its own definition
 * (`GET /api/machines/instance`, layout included): a node per state, an
 * edge per pair of states a transition joins. The current state is marked
 * by class, border, a "● current" text and `aria-current="step"`; a
 * transition plays on its edge (the `taking` class), then the mark moves.
 */
import { call } from './api.js';
import { StepQueue } from './step-queue.js';

/**
 * @typedef {{ name: string, initial: boolean, final: boolean }} MachineState
 * @typedef {{ id: string, from: string, to: string | null, event: string, eventKind: string, label: string, guard: string | null, inherited: boolean, reenter: boolean }} MachineTransition
 * @typedef {{ state: string, x: number, y: number, width: number, height: number }} LayoutNode
 * @typedef {{ id: string, from: string, to: string, transitionIds: string[], labels: string[], path: string, labelX: number, labelY: number }} LayoutEdge
 * @typedef {{
 *   id: string, initial: string, states: MachineState[], transitions: MachineTransition[],
 *   events: { kind: string, label: string }[], guards: string[],
 *   layout: { width: number, height: number, nodes: LayoutNode[], edges: LayoutEdge[] }
 * }} MachineDocument
 */

const svgNs = 'http://www.w3.org/2000/svg';
/** Room around the layout for the initial marker and the "current" text. */
const margin = 28;
/** How long an edge shows its animation (the CSS animation's length). */
const takingMs = 1_000;

/** @type {Promise<MachineDocument> | undefined} */
let machine;

/** The machine, fetched once per page (a failure is not kept: the next view asks again). */
export function loadMachine() {
  machine ??= /** @type {Promise<MachineDocument>} */ (call('GET', 'api/machines/instance')).catch((error) => {
    machine = undefined;
    throw error;
  });
  return machine;
}

/**
 * An SVG element.
 * @param {string} tag
 * @param {Record<string, string | number>} [attributes]
 * @param {...(Node | string)} children
 * @returns {SVGElement}
 */
function svg(tag, attributes = {}, ...children) {
  const element = /** @type {SVGElement} */ (document.createElementNS(svgNs, tag));
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

/**
 * @param {string} name of the instance
 * @param {string} state
 */
function summary(name, state) {
  return `Lifecycle of ${name}: currently ${state}`;
}

/**
 * The drawing, and the means to move its mark.
 * @param {MachineDocument} document_
 * @param {string} name of the instance, for the summary
 */
export function createMachineView(document_, name) {
  const { layout } = document_;
  const arrowId = `arrow-${Math.random().toString(36).slice(2)}`;
  const initialArrowId = `${arrowId}-initial`;
  const defs = svg(
    'defs',
    {},
    svg('marker', { id: arrowId, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })),
    svg('marker', { id: initialArrowId, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })),
  );

  /** @type {Map<string, SVGElement>} */
  const edges = new Map();
  const edgeGroup = svg('g', { class: 'edges', 'aria-hidden': 'true' });
  for (const edge of layout.edges) {
    const label = svg('text', { class: 'edge-label', x: edge.labelX, y: edge.labelY, 'text-anchor': 'middle' });
    edge.labels.forEach((line, index) => {
      label.append(svg('tspan', { x: edge.labelX, dy: index === 0 ? `${-(edge.labels.length - 1) * 0.55}em` : '1.1em' }, line));
    });
    const group = svg('g', { class: 'edge', 'data-edge': `${edge.from}->${edge.to}` }, svg('path', { d: edge.path, 'marker-end': `url(#${arrowId})` }), label);
    edges.set(`${edge.from}->${edge.to}`, group);
    edgeGroup.append(group);
  }

  const states = new Map(document_.states.map((state) => [state.name, state]));
  /** @type {Map<string, SVGElement>} */
  const nodes = new Map();
  const nodeGroup = svg('g', { class: 'states', role: 'list', 'aria-label': 'States' });
  for (const node of layout.nodes) {
    const state = states.get(node.state);
    const centreX = node.x + node.width / 2;
    const centreY = node.y + node.height / 2;
    const group = svg('g', { class: 'state', 'data-state': node.state, role: 'listitem' });
    group.append(svg('rect', { class: 'state-box', x: node.x, y: node.y, width: node.width, height: node.height, rx: 8 }));
    if (state?.final) {
      group.classList.add('final');
      group.append(svg('rect', { class: 'state-final-ring', x: node.x + 4, y: node.y + 4, width: node.width - 8, height: node.height - 8, rx: 5 }));
    }
    const label = svg('text', { class: 'state-name', x: centreX, y: centreY, 'text-anchor': 'middle', 'dominant-baseline': 'central' }, node.state);
    group.append(label);
    if (state?.initial || document_.initial === node.state) {
      group.classList.add('initial');
      group.append(
        svg('circle', { class: 'initial-dot', cx: node.x - 20, cy: centreY, r: 5 }),
        svg('line', { class: 'initial-line', x1: node.x - 15, y1: centreY, x2: node.x - 2, y2: centreY, 'marker-end': `url(#${initialArrowId})` }),
        svg('text', { class: 'state-note', x: node.x - 20, y: centreY - 10, 'text-anchor': 'middle' }, 'start'),
      );
    }
    // Read out instead of the drawing's bits: the name, and what kind of state it is.
    const kind = [state?.initial || document_.initial === node.state ? 'initial state' : '', state?.final ? 'final state' : ''].filter(Boolean).join(', ');
    group.dataset['label'] = kind === '' ? node.state : `${node.state} (${kind})`;
    group.setAttribute('aria-label', group.dataset['label']);
    group.append(svg('text', { class: 'current-marker', x: centreX, y: node.y - 7, 'text-anchor': 'middle' }, '● current'));
    nodes.set(node.state, group);
    nodeGroup.append(group);
  }

  const element = /** @type {SVGSVGElement} */ (
    svg(
      'svg',
      {
        class: 'machine',
        viewBox: `${-margin} ${-margin} ${layout.width + 2 * margin} ${layout.height + 2 * margin}`,
        width: layout.width + 2 * margin,
        role: 'figure',
        'aria-label': summary(name, 'unknown'),
      },
      defs,
      edgeGroup,
      nodeGroup,
    )
  );

  /** @type {string | undefined} */
  let current;
  /** @type {Map<SVGElement, ReturnType<typeof setTimeout>>} */
  const playing = new Map();

  /** @param {string} state */
  function setCurrent(state) {
    if (state === current) return;
    if (current !== undefined) {
      const old = nodes.get(current);
      old?.classList.remove('current');
      old?.removeAttribute('aria-current');
      old?.setAttribute('aria-label', old.dataset['label'] ?? current);
    }
    current = state;
    const node = nodes.get(state);
    node?.classList.add('current');
    node?.setAttribute('aria-current', 'step');
    node?.setAttribute('aria-label', `${node.dataset['label'] ?? state}, current`);
    element.setAttribute('aria-label', summary(name, state));
  }

  /**
   * Plays the edge's animation from its start.
   * @param {string} from
   * @param {string} to
   */
  function play(from, to) {
    const edge = edges.get(`${from}->${to}`);
    if (edge === undefined) return;
    clearTimeout(playing.get(edge));
    edge.classList.remove('taking');
    // Reading layout restarts the CSS animation when the class comes back.
    void edge.getBoundingClientRect();
    edge.classList.add('taking');
    playing.set(edge, setTimeout(() => {
      edge.classList.remove('taking');
      playing.delete(edge);
    }, takingMs));
  }

  /** @type {StepQueue<{ from: string | null, to: string }>} */
  const queue = new StepQueue({
    budgetMs: 250,
    maxStepMs: 250,
    begin: ({ from, to }) => {
      if (from !== null && from !== to) play(from, to);
    },
    land: ({ to }) => setCurrent(to),
  });

  return {
    element,
    /**
     * Marks `state` at once (a load, a replay): whatever was queued is dropped.
     * @param {string} state
     */
    show(state) {
      queue.clear();
      setCurrent(state);
    },
    /**
     * A transition as it arrives: played on its edge, then the mark moves.
     * @param {string | null} from
     * @param {string} to
     */
    take(from, to) {
      queue.push({ from, to });
    },
    destroy() {
      queue.clear();
      for (const timer of playing.values()) clearTimeout(timer);
    },
  };
}
