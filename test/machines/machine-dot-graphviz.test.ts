/** The DOT rendering read by Graphviz itself (installed by .ci/run; skipped with a notice on a laptop without it). */
import { execFileSync } from 'node:child_process';
import test from 'ava';
import { transitionLabel } from '../../src/machines/graph.js';
import { instanceMachineGraph, machineDot } from '../../src/machines/machine-document.js';
import { toolAvailable } from '../helpers/engines.js';

if (toolAvailable('dot', 'machines › graphviz')) {
  test('Graphviz lays out the instance machine from its DOT: every state and every event label is in the SVG', (t) => {
    const graph = instanceMachineGraph();
    const svg = execFileSync('dot', ['-Tsvg'], { input: machineDot(graph, 'instance'), encoding: 'utf8' });
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]!.replace(/&#45;/g, '-').replace(/&amp;/g, '&'));
    for (const state of graph.states) t.true(texts.includes(state.name), `${state.name} is drawn`);
    for (const transition of graph.transitions) {
      if (transition.to === null || transition.to === transition.from) continue;
      t.true(texts.includes(transitionLabel(transition)), `${transition.id} has its label`);
    }
  });
}
