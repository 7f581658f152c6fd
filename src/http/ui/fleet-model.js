// @ts-check
/**
 * The fleet's data, without the DOM: the instances by name, status changes
 * applied to them, and the filter/sort/count of what the list shows. Every
 * selection is one pass over the fleet (plus a sort of what it kept), so a
 * render of 10,000 instances stays a few milliseconds.
 */
import { statuses } from './api.js';

/** @import { InstanceStatus, InstanceView, StatusChangedEvent } from './api.js' */
/** @typedef {'name' | 'status' | 'transition'} SortKey */
/** @typedef {{ status: string, platform: string, q: string, sort: SortKey }} FleetFilter */
/** @typedef {{ rows: InstanceView[], counts: Record<InstanceStatus, number>, total: number, platforms: string[] }} FleetSelection */

/** @type {readonly SortKey[]} */
export const sortKeys = ['name', 'status', 'transition'];

/**
 * The filter a URL's query names (`?status=Failed&platform=docker&q=ana&sort=status`); anything unknown is left out.
 * @param {string} search
 * @returns {FleetFilter}
 */
export function filterFromQuery(search) {
  const query = new URLSearchParams(search);
  const status = query.get('status') ?? '';
  const sort = query.get('sort') ?? '';
  return {
    status: /** @type {readonly string[]} */ (statuses).includes(status) ? status : '',
    platform: query.get('platform') ?? '',
    q: query.get('q') ?? '',
    sort: /** @type {readonly string[]} */ (sortKeys).includes(sort) ? /** @type {SortKey} */ (sort) : 'name',
  };
}

/**
 * The query that names a filter (empty when it is the default), so a filtered view can be linked.
 * @param {FleetFilter} filter
 */
export function queryOfFilter(filter) {
  const query = new URLSearchParams();
  if (filter.status !== '') query.set('status', filter.status);
  if (filter.platform !== '') query.set('platform', filter.platform);
  if (filter.q !== '') query.set('q', filter.q);
  if (filter.sort !== 'name') query.set('sort', filter.sort);
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

/**
 * Puts one status change into an instance's view (what a status-changed event carries; the rest stays as loaded).
 * @param {InstanceView} view
 * @param {StatusChangedEvent} event
 */
export function applyChange(view, event) {
  view.status = event.to;
  view.desiredState = event.desiredState;
  view.observedState = event.observedState;
  view.generation = event.generation;
  if (event.observedGeneration !== undefined) view.observedGeneration = event.observedGeneration;
  view.lastTransition = { at: event.at, from: event.from, to: event.to, cause: event.cause };
  if (event.reason !== undefined) view.lastTransition.reason = event.reason;
  view.updatedAt = event.at;
}

/**
 * Whether the workload runs an older generation than the configuration's (a restart applies it).
 * @param {InstanceView} view
 */
export function generationLags(view) {
  return view.observedGeneration !== null && view.observedGeneration < view.generation;
}

/** @param {string} a @param {string} b */
function byText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

const statusOrder = new Map(statuses.map((status, index) => [status, index]));

/** @type {Record<SortKey, (a: InstanceView, b: InstanceView) => number>} */
const comparators = {
  name: (a, b) => byText(a.name, b.name),
  status: (a, b) => (statusOrder.get(a.status) ?? 99) - (statusOrder.get(b.status) ?? 99) || byText(a.name, b.name),
  // Newest first: what just happened is what a reader looks for.
  transition: (a, b) => byText(b.lastTransition?.at ?? '', a.lastTransition?.at ?? '') || byText(a.name, b.name),
};

export class Fleet {
  /** @type {Map<string, InstanceView>} */
  #byName = new Map();
  /** The views in name order, kept until an instance comes or goes (a status change does not reorder by name). */
  /** @type {InstanceView[] | undefined} */
  #nameOrder;

  get size() {
    return this.#byName.size;
  }

  /** @param {InstanceView[]} views */
  load(views) {
    this.#byName = new Map(views.map((view) => [view.name, view]));
    this.#nameOrder = undefined;
  }

  /** @param {string} name */
  get(name) {
    return this.#byName.get(name);
  }

  /** @param {InstanceView} view */
  put(view) {
    if (this.#byName.get(view.name) !== view) this.#nameOrder = undefined;
    this.#byName.set(view.name, view);
  }

  /** @param {string} name */
  remove(name) {
    if (this.#byName.delete(name)) this.#nameOrder = undefined;
  }

  /**
   * Applies a change to the instance it is about; false when that instance is not known here.
   * @param {StatusChangedEvent} event
   */
  apply(event) {
    const view = this.#byName.get(event.instanceId);
    if (view === undefined) return false;
    applyChange(view, event);
    return true;
  }

  /**
   * What the list shows under a filter, and the counts per status of the whole fleet.
   * @param {FleetFilter} filter
   * @returns {FleetSelection}
   */
  select(filter) {
    this.#nameOrder ??= [...this.#byName.values()].sort(comparators.name);
    const counts = /** @type {Record<InstanceStatus, number>} */ (Object.fromEntries(statuses.map((status) => [status, 0])));
    const platforms = new Set(/** @type {string[]} */ ([]));
    const needle = filter.q.trim().toLowerCase();
    /** @type {InstanceView[]} */
    const rows = [];
    for (const view of this.#nameOrder) {
      counts[view.status] = (counts[view.status] ?? 0) + 1;
      platforms.add(view.platformType);
      if (filter.status !== '' && view.status !== filter.status) continue;
      if (filter.platform !== '' && view.platformType !== filter.platform) continue;
      if (needle !== '' && !view.name.toLowerCase().includes(needle)) continue;
      rows.push(view);
    }
    // The name order is already there; other orders sort only what the filter kept.
    if (filter.sort !== 'name') rows.sort(comparators[filter.sort]);
    return { rows, counts, total: this.#byName.size, platforms: [...platforms].sort(byText) };
  }
}
