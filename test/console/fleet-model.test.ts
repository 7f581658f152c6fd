/**
 * The fleet view's data logic (src/http/ui/fleet-model.js, a browser module
 * with no DOM use) run in Node: filters to and from the URL, status changes
 * applied, counts, and the three sort orders.
 */
import test from 'ava';
import type { InstanceView } from '../../src/api/instance-view.js';
import { sampleView } from '../helpers/instance-views.js';

interface Filter {
  status: string;
  platform: string;
  q: string;
  sort: 'name' | 'status' | 'transition';
}
interface FleetModel {
  filterFromQuery(search: string): Filter;
  queryOfFilter(filter: Filter): string;
  generationLags(view: InstanceView): boolean;
  Fleet: new () => {
    size: number;
    load(views: InstanceView[]): void;
    get(name: string): InstanceView | undefined;
    put(view: InstanceView): void;
    remove(name: string): void;
    apply(event: Record<string, unknown>): boolean;
    select(filter: Filter): { rows: InstanceView[]; counts: Record<string, number>; total: number; platforms: string[] };
  };
}

// A browser module with JSDoc types (the Node tsconfig does not read JS): loaded by its URL, its shape declared above.
const moduleUrl = new URL('../../src/http/ui/fleet-model.js', import.meta.url).href;
const model = (await import(moduleUrl)) as FleetModel;

function view(name: string, status: InstanceView['status'], platformType: string, at: string): InstanceView {
  return sampleView(name, at, { status, platformType });
}

const all: Filter = { status: '', platform: '', q: '', sort: 'name' };

test('a filter round-trips through the URL query; unknown values are left out', (t) => {
  const filter = model.filterFromQuery('?status=Failed&platform=docker&q=ana&sort=status');
  t.deepEqual(filter, { status: 'Failed', platform: 'docker', q: 'ana', sort: 'status' });
  t.is(model.queryOfFilter(filter), '?status=Failed&platform=docker&q=ana&sort=status');
  t.deepEqual(model.filterFromQuery('?status=Bogus&sort=size'), all);
  t.is(model.queryOfFilter(all), '');
});

test('select filters by status, platform and name, counts the whole fleet, and sorts three ways', (t) => {
  const fleet = new model.Fleet();
  fleet.load([
    view('orders', 'Running', 'docker', '2026-01-01T00:00:03.000Z'),
    view('analytics', 'Failed', 'process', '2026-01-01T00:00:01.000Z'),
    view('billing', 'Pending', 'process', '2026-01-01T00:00:02.000Z'),
  ]);
  const names = (filter: Partial<Filter>) => fleet.select({ ...all, ...filter }).rows.map((row) => row.name);
  t.deepEqual(names({}), ['analytics', 'billing', 'orders']);
  t.deepEqual(names({ status: 'Failed' }), ['analytics']);
  t.deepEqual(names({ platform: 'process' }), ['analytics', 'billing']);
  t.deepEqual(names({ q: 'ILL' }), ['billing'], 'the name match ignores case');
  t.deepEqual(names({ sort: 'status' }), ['billing', 'orders', 'analytics'], 'the lifecycle order');
  t.deepEqual(names({ sort: 'transition' }), ['orders', 'billing', 'analytics'], 'newest first');
  const selection = fleet.select({ ...all, status: 'Running' });
  t.like(selection.counts, { Running: 1, Failed: 1, Pending: 1, Stopped: 0 });
  t.is(selection.total, 3);
  t.deepEqual(selection.platforms, ['docker', 'process']);
});

test('a status change updates its instance (and the name order survives it); an unknown name is reported', (t) => {
  const fleet = new model.Fleet();
  fleet.load([view('a', 'Running', 'process', '2026-01-01T00:00:00.000Z'), view('b', 'Running', 'process', '2026-01-01T00:00:00.000Z')]);
  t.deepEqual(fleet.select(all).rows.map((row) => row.name), ['a', 'b']);
  const change = {
    sequence: 7,
    instanceId: 'b',
    at: '2026-01-01T00:01:00.000Z',
    from: 'Running',
    to: 'Stopped',
    cause: 'stopWorkload.done',
    desiredState: 'Stopped',
    observedState: 'Stopped',
    generation: 2,
    observedGeneration: 1,
  };
  t.true(fleet.apply(change));
  const b = fleet.get('b')!;
  t.like(b, { status: 'Stopped', desiredState: 'Stopped', observedState: 'Stopped', generation: 2, observedGeneration: 1 });
  t.deepEqual(b.lastTransition, { at: change.at, from: 'Running', to: 'Stopped', cause: 'stopWorkload.done' });
  t.true(model.generationLags(b));
  t.false(model.generationLags(fleet.get('a')!));
  t.like(fleet.select(all).counts, { Running: 1, Stopped: 1 });
  t.false(fleet.apply({ ...change, instanceId: 'c' }));
  fleet.remove('a');
  t.deepEqual(fleet.select(all).rows.map((row) => row.name), ['b']);
});
