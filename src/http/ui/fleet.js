// @ts-check
/**
 * The fleet view: every instance in a windowed table, filtered by status,
 * platform and name (kept in the URL, so a filtered view can be linked),
 * with counts per status, following the event feed live.
 *
 * Loading follows the feed's mark/replay protocol (see event-feed.js); an
 * instance the feed names that is not known yet is fetched and added. Feed
 * events only change the data and ask for a render; renders happen at most
 * once per animation frame, so a burst of changes costs one pass.
 */
import { ApiError, getInstance, listInstances, statuses } from './api.js';
import { age, clockTime, h } from './dom.js';
import { Fleet, filterFromQuery, generationLags, queryOfFilter } from './fleet-model.js';
import { VirtualList } from './virtual-list.js';

/** @import { ConsoleContext } from './main.js' */
/** @import { InstanceView, StatusChangedEvent } from './api.js' */
/** @import { FleetFilter, SortKey } from './fleet-model.js' */

/** Must match `.fleet-row` height in fleet.css. */
const rowHeight = 40;
/** How long a deleted instance stays in the list, shown as Deleted, before it goes. */
const deletedLingerMs = 1_500;

/** @type {{ key: SortKey | undefined, label: string }[]} */
const columns = [
  { key: 'name', label: 'Name' },
  { key: 'status', label: 'Status' },
  { key: undefined, label: 'Platform' },
  { key: undefined, label: 'Desired / observed' },
  { key: undefined, label: 'Generation' },
  { key: undefined, label: 'Age' },
  { key: 'transition', label: 'Last transition' },
];

/**
 * @typedef {{ link: HTMLAnchorElement, badge: HTMLElement, platform: HTMLElement, states: HTMLElement,
 *   generation: HTMLElement, age: HTMLElement, transition: HTMLElement }} RowParts
 */

/** @type {WeakMap<HTMLElement, RowParts>} */
const rowParts = new WeakMap();

function createRow() {
  /** @param {Node} content */
  const cell = (content) => h('div', { role: 'cell', class: 'fleet-cell' }, content);
  const parts = {
    link: h('a', { 'data-route': true }),
    badge: h('span', { class: 'status' }),
    platform: h('span'),
    states: h('span'),
    generation: h('span'),
    age: h('span'),
    transition: h('span', { class: 'fleet-transition' }),
  };
  const row = h('div', { role: 'row', class: 'fleet-row' }, ...Object.values(parts).map(cell));
  rowParts.set(row, parts);
  return row;
}

/**
 * @param {HTMLElement} element
 * @param {string} text
 */
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * @param {HTMLElement} row
 * @param {InstanceView} view
 * @param {number} index
 */
function updateRow(row, view, index) {
  const parts = /** @type {RowParts} */ (rowParts.get(row));
  row.setAttribute('aria-rowindex', String(index + 2));
  row.dataset['instance'] = view.name;
  row.dataset['status'] = view.status;
  const href = `instances/${encodeURIComponent(view.name)}`;
  if (parts.link.getAttribute('href') !== href) parts.link.setAttribute('href', href);
  setText(parts.link, view.name);
  parts.badge.className = `status status-${view.status.toLowerCase()}`;
  setText(parts.badge, view.status);
  setText(parts.platform, view.platformType);
  setText(parts.states, `${view.desiredState} / ${view.observedState}`);
  const lags = generationLags(view);
  setText(parts.generation, `${view.observedGeneration ?? '—'} / ${view.generation}${lags ? ' (behind)' : ''}`);
  parts.generation.className = lags ? 'fleet-lags' : '';
  parts.generation.title = lags ? 'the workload runs an older generation than its configuration; a restart applies it' : '';
  setText(parts.age, age(view.createdAt));
  parts.age.title = view.createdAt;
  const last = view.lastTransition;
  setText(
    parts.transition,
    last === null ? '—' : `${clockTime(last.at)} ${last.from ?? '∅'} → ${last.to} · ${last.cause}${last.reason ? ` (${last.reason})` : ''}`,
  );
  parts.transition.title = last === null ? '' : `${last.at}${last.reason ? ` — ${last.reason}` : ''}`;
}

/**
 * @param {HTMLElement} root
 * @param {ConsoleContext} context
 * @returns {() => void}
 */
export function mountFleet(root, context) {
  const { feed } = context;
  /** @type {FleetFilter} */
  let filter = filterFromQuery(window.location.search);
  const fleet = new Fleet();
  const abort = new AbortController();
  /** 'loading' until the first list arrived; events meanwhile are picked up by the replay. */
  let phase = /** @type {'loading' | 'ready' | 'failed'} */ ('loading');
  /** Instances being fetched because the feed named them first, with the changes seen meanwhile. */
  /** @type {Map<string, StatusChangedEvent[]>} */
  const fetching = new Map();
  /** @type {Map<string, ReturnType<typeof setTimeout>>} */
  const removals = new Map();
  let generation = 0;

  // ---- DOM ----
  const statusSelect = h(
    'select',
    { id: 'fleet-status', name: 'status' },
    h('option', { value: '' }, 'All statuses'),
    statuses.map((status) => h('option', { value: status }, status)),
  );
  const platformSelect = h('select', { id: 'fleet-platform', name: 'platform' });
  const search = h('input', { id: 'fleet-q', name: 'q', type: 'search', placeholder: 'part of a name', autocomplete: 'off', spellcheck: 'false' });
  const clear = h('button', { type: 'button', class: 'fleet-clear' }, 'Clear filters');
  const form = h(
    'form',
    { class: 'fleet-filters', role: 'search', 'aria-label': 'Filter instances' },
    h('label', { for: 'fleet-status' }, 'Status'),
    statusSelect,
    h('label', { for: 'fleet-platform' }, 'Platform'),
    platformSelect,
    h('label', { for: 'fleet-q' }, 'Name'),
    search,
    clear,
  );
  /** @type {Map<string, { button: HTMLButtonElement, count: HTMLElement }>} */
  const countButtons = new Map();
  const counts = h(
    'ul',
    { class: 'fleet-counts', 'aria-label': 'Instances by status (choose one to filter)' },
    statuses.map((status) => {
      const count = h('span', { class: 'fleet-count' }, '0');
      const button = h('button', { type: 'button', 'data-count-status': status, 'aria-pressed': 'false' }, h('span', { class: `status status-${status.toLowerCase()}` }, status), ' ', count);
      button.addEventListener('click', () => setFilter({ status: filter.status === status ? '' : status }));
      countButtons.set(status, { button, count });
      return h('li', {}, button);
    }),
  );
  const total = h('span', { 'data-count': 'total' }, '0');
  const shown = h('span', { 'data-count': 'shown' }, '0');
  const summary = h('p', { class: 'fleet-summary muted' }, total, ' instances · ', shown, ' shown');

  /** @type {Map<SortKey, { header: HTMLElement, button: HTMLButtonElement }>} */
  const sortHeaders = new Map();
  const headerRow = h(
    'div',
    { role: 'row', class: 'fleet-row fleet-header', 'aria-rowindex': 1 },
    columns.map(({ key, label }) => {
      const header = h('div', { role: 'columnheader', class: 'fleet-cell' });
      if (key === undefined) {
        header.append(label);
        return header;
      }
      const button = h('button', { type: 'button', class: 'fleet-sort', title: `Sort by ${label.toLowerCase()}` }, label);
      button.addEventListener('click', () => setFilter({ sort: key }));
      header.append(button);
      sortHeaders.set(key, { header, button });
      return header;
    }),
  );
  const viewport = h('div', { role: 'rowgroup', class: 'fleet-body', tabindex: 0, 'aria-label': 'Instances (scrolls)' });
  const table = h(
    'div',
    { role: 'table', class: 'fleet-table', 'aria-label': 'Instances', 'aria-colcount': columns.length, 'aria-rowcount': 1 },
    h('div', { role: 'rowgroup' }, headerRow),
    viewport,
  );
  const empty = h('p', { class: 'fleet-empty', role: 'status' });
  const problem = h('div', { class: 'problem', role: 'alert', hidden: true });
  const tableBox = h('div', { class: 'fleet-scroll' }, table);
  root.append(h('h1', {}, 'Fleet'), form, counts, summary, problem, empty, tableBox);

  /** @type {VirtualList<InstanceView>} */
  const list = new VirtualList({ viewport, rowHeight, overscan: 10, createRow, updateRow });

  // ---- rendering, at most once a frame ----
  let frame = 0;
  function schedule() {
    if (frame === 0) frame = requestAnimationFrame(render);
  }

  let platformKey = '';
  function render() {
    frame = 0;
    const selection = fleet.select(filter);
    for (const [status, { button, count }] of countButtons) {
      const n = selection.counts[/** @type {keyof typeof selection.counts} */ (status)];
      count.textContent = String(n);
      button.classList.toggle('fleet-zero', n === 0);
      button.setAttribute('aria-pressed', String(filter.status === status));
    }
    total.textContent = String(selection.total);
    shown.textContent = String(selection.rows.length);
    // The platform choices are those the fleet has, plus the linked one even before an instance of it shows up.
    const platforms = selection.platforms.includes(filter.platform) || filter.platform === '' ? selection.platforms : [...selection.platforms, filter.platform];
    const key = platforms.join('\n');
    if (key !== platformKey) {
      platformKey = key;
      platformSelect.replaceChildren(h('option', { value: '' }, 'All platforms'), ...platforms.map((platform) => h('option', { value: platform }, platform)));
    }
    // Only when they differ: rewriting a control's value under the reader's hand would disturb it.
    if (statusSelect.value !== filter.status) statusSelect.value = filter.status;
    if (platformSelect.value !== filter.platform) platformSelect.value = filter.platform;
    if (search.value !== filter.q) search.value = filter.q;
    clear.hidden = queryOfFilter({ ...filter, sort: 'name' }) === '';
    for (const [key, { header, button }] of sortHeaders) {
      header.setAttribute('aria-sort', filter.sort === key ? (key === 'transition' ? 'descending' : 'ascending') : 'none');
      button.classList.toggle('fleet-sorted', filter.sort === key);
    }
    table.setAttribute('aria-rowcount', String(selection.rows.length + 1));
    if (phase === 'loading') empty.textContent = 'Loading…';
    else if (phase === 'failed') empty.textContent = '';
    else if (selection.total === 0) empty.textContent = 'No instances yet — create one with POST /api/server/instances';
    else if (selection.rows.length === 0) empty.textContent = 'No instance matches the filter';
    else empty.textContent = '';
    empty.hidden = empty.textContent === '';
    // An empty table says nothing the empty-state line does not (it comes back with the first row).
    tableBox.hidden = selection.rows.length === 0;
    list.setItems(selection.rows);
  }

  /** @param {Partial<FleetFilter>} change */
  function setFilter(change) {
    filter = { ...filter, ...change };
    // replaceState: typing a name is not a trail of history entries, but the URL can be linked or reloaded.
    const url = new URL(window.location.href);
    url.search = queryOfFilter(filter);
    if (url.href !== window.location.href) window.history.replaceState(null, '', url);
    list.scrollToIndex(0);
    schedule();
  }

  statusSelect.addEventListener('change', () => setFilter({ status: statusSelect.value }));
  platformSelect.addEventListener('change', () => setFilter({ platform: platformSelect.value }));
  search.addEventListener('input', () => setFilter({ q: search.value }));
  form.addEventListener('submit', (event) => event.preventDefault());
  clear.addEventListener('click', () => setFilter({ status: '', platform: '', q: '' }));

  /** @param {unknown} error */
  function showProblem(error) {
    if (abort.signal.aborted) return;
    problem.replaceChildren(
      h('strong', {}, 'Could not load the fleet. '),
      error instanceof ApiError ? `${error.problem.title}: ${error.problem.detail}` : String(error),
      ' ',
      h('button', { type: 'button', onclick: () => void load() }, 'Retry'),
    );
    problem.hidden = false;
  }

  // ---- data ----
  /** @param {StatusChangedEvent} event */
  function apply(event) {
    const name = event.instanceId;
    const pending = fetching.get(name);
    if (pending !== undefined) {
      pending.push(event);
      return;
    }
    const timer = removals.get(name);
    if (timer !== undefined && event.to !== 'Deleted') {
      // The name was created again before the old row went.
      clearTimeout(timer);
      removals.delete(name);
    }
    if (fleet.apply(event)) {
      if (event.to === 'Deleted' && !removals.has(name)) {
        removals.set(
          name,
          setTimeout(() => {
            removals.delete(name);
            if (fleet.get(name)?.status === 'Deleted') fleet.remove(name);
            schedule();
          }, deletedLingerMs),
        );
      }
    } else if (event.to !== 'Deleted') {
      void fetchNew(name);
    }
    schedule();
  }

  /** @param {string} name */
  async function fetchNew(name) {
    /** @type {StatusChangedEvent[]} */
    const seen = [];
    fetching.set(name, seen);
    const loadedAt = generation;
    try {
      const view = await getInstance(name, abort.signal);
      if (loadedAt !== generation) return;
      fetching.delete(name);
      fleet.put(view);
      // Changes seen while it was fetched, in order: the ones it already shows end in the same state.
      for (const event of seen) apply(event);
    } catch (error) {
      if (loadedAt !== generation) return;
      fetching.delete(name);
      // Gone already (created and deleted in between): nothing to show. Anything else: the next change retries.
      if (!(error instanceof ApiError && error.status === 404) && !abort.signal.aborted) console.warn(`fleet: could not fetch ${name}`, error);
    }
    schedule();
  }

  async function load() {
    generation += 1;
    const loadedAt = generation;
    fetching.clear();
    problem.hidden = true;
    // Changes that happen before the stream is open would not reach the page: wait for it (briefly) first.
    await feed.ready();
    if (abort.signal.aborted || loadedAt !== generation) return;
    const mark = feed.mark();
    let views;
    try {
      views = await listInstances(abort.signal);
    } catch (error) {
      if (loadedAt !== generation) return;
      phase = phase === 'loading' ? 'failed' : phase;
      showProblem(error);
      schedule();
      return;
    }
    if (abort.signal.aborted || loadedAt !== generation) return;
    fleet.load(views);
    const missed = feed.replay(mark);
    if (missed === undefined) {
      // More changed while loading than the feed keeps: load again.
      void load();
      return;
    }
    phase = 'ready';
    for (const event of missed) apply(event);
    schedule();
  }

  const stopChanges = feed.onChange((event) => {
    if (phase === 'ready') apply(event);
  });
  const stopResets = feed.onReset(() => void load());
  // Ages move on by themselves: rewrite the rows in view now and then (cheap: only those).
  const ageTimer = setInterval(() => list.refresh(), 10_000);

  schedule();
  void load();

  return () => {
    abort.abort();
    stopChanges();
    stopResets();
    clearInterval(ageTimer);
    for (const timer of removals.values()) clearTimeout(timer);
    cancelAnimationFrame(frame);
    list.destroy();
  };
}
