/**
 * A configuration change of a Running instance applied through the server's
 * own API (a query added, same process) beside the same kind of change
 * applied by a restart (`updateStrategy=restart`), on the process platform
 * with the Drasi Server double, embedded. Each sample is the time from the
 * PATCH until the instance is Running its new generation again. Also: how
 * long drift (a query deleted on the server) takes to be found and repaired
 * by a check on request, and what one check of an in-sync instance costs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createControlPlane } from '../src/embedded.js';
import type { HostedControlPlane } from '../src/hosted-control-plane.js';
import { doubleExecutable } from '../test/helpers/embedded.js';
import { row, type Row } from './lib/results.js';
import { measure } from './lib/stats.js';

const lanes = 4;
const pipeline = {
  sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }],
  queries: [{ id: 'hot', query: 'MATCH (s) RETURN s', autoStart: true, sources: [{ sourceId: 'sensors' }] }],
  reactions: [{ kind: 'log', id: 'console', queries: ['hot'] }],
};

/** Resolves once the instance is Running with `generation` applied (polled through the library API). */
async function applied(draas: HostedControlPlane, id: string, generation: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const view = await draas.get(id);
    if (view.status === 'Running' && view.observedGeneration === generation) return;
    if (Date.now() > deadline) throw new Error(`${id}: generation ${generation} not running within 60 s (${view.status}, ${view.observedGeneration})`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function addQuery(index: number) {
  return [{ op: 'add', path: '/queries/-', value: { id: `q${index}`, query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'sensors' }] } }];
}

export async function benchReconfigure(options: { quick: boolean; large?: boolean }): Promise<Row[]> {
  const count = options.quick ? 8 : 40;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-bench-reconfigure-'));
  const draas = await createControlPlane({ drasiServer: doubleExecutable, ports: { min: 26000, max: 26999 }, stopGraceMs: 5_000, dataDir: dir, reconcileIntervalMs: null });
  try {
    const ids = Array.from({ length: count }, (_, index) => `rc-${index}`);
    for (const id of ids) {
      await draas.create({ name: id, configuration: pipeline });
      await draas.start(id);
    }
    // Each instance gets one hot change and one change by restart; the generation counts them.
    const hot = await measure(count, lanes, async (index) => {
      const id = ids[index]!;
      const { generation } = await draas.patchConfig(id, addQuery(1));
      await applied(draas, id, generation);
    });
    const restarted = await measure(count, lanes, async (index) => {
      const id = ids[index]!;
      const { generation } = await draas.patchConfig(id, addQuery(2), { updateStrategy: 'restart' });
      await applied(draas, id, generation);
    });
    // Drift: the query deleted on the server, found and repaired by a check on request.
    const drift = await measure(count, lanes, async (index) => {
      const id = ids[index]!;
      const url = (await draas.get(id)).runtime!.url;
      for (const route of ['/api/v1/reactions/console', '/api/v1/queries/hot']) {
        const response = await fetch(`${url}${route}`, { method: 'DELETE' });
        await response.arrayBuffer();
      }
      const comparison = await draas.reconcile(id);
      if (comparison.outcome !== 'drifted') throw new Error(`${id}: ${comparison.outcome}`);
      const deadline = Date.now() + 30_000;
      while (!((await draas.get(id)).status === 'Running' && (await draas.reconcile(id)).outcome === 'in-sync')) {
        if (Date.now() > deadline) throw new Error(`${id}: drift not repaired`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    });
    const check = await measure(count * 5, lanes, async (index) => {
      const comparison = await draas.reconcile(ids[index % count]!);
      if (comparison.outcome !== 'in-sync') throw new Error(`${comparison.instanceId}: ${comparison.outcome}`);
    });
    return [
      row('a query added to a Running instance: applied without a restart, p50', hot.p50Ms, 'ms', { baseline: restarted.p50Ms, note: 'baseline: the same kind of change applied by a restart' }),
      row('a query added: applied without a restart, p99', hot.p99Ms, 'ms', { baseline: restarted.p99Ms }),
      row('drift (a query and its reaction deleted on the server) found and repaired, p50', drift.p50Ms, 'ms', { baseline: restarted.p50Ms, note: 'baseline: a restart' }),
      row('one check of an in-sync instance (components read with their config), p50', check.p50Ms, 'ms', { baseline: hot.p50Ms, note: 'baseline: a hot apply' }),
    ];
  } finally {
    for (const id of (await draas.list()).map((view) => view.id)) await draas.delete(id).catch(() => undefined);
    await draas.close();
    await rm(dir, { recursive: true, force: true });
  }
}
