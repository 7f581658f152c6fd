// @ts-check
/**
 * One instance (`/ui/instances/<name>`): its status and generations, the
 * lifecycle machine with the current state marked, the history, failure
 * details, configuration, the followed log, and the lifecycle buttons.
 *
 * Loading follows the feed's mark/replay protocol: take a mark, load over
 * REST, replay what arrived meanwhile, then follow live. A feed reset
 * reloads the data.
 */
import { ApiError, call, getInstance } from './api.js';
import { h, statusBadge } from './dom.js';
import { createActions } from './instance-actions.js';
import { createConfigView, generationText } from './config-view.js';
import { createFailureView } from './failure-view.js';
import { createLogView } from './log-view.js';
import { createMachineView, loadMachine } from './machine-view.js';
import { createTimeline } from './timeline.js';

/**
 * @import { ConsoleContext } from './main.js'
 * @import { InstanceView, Problem, StatusChange, StatusChangedEvent, HistoryEntry } from './api.js'
 */

/** After a burst of changes, the instance is read once (failure details, restarts). */
const refreshDelayMs = 150;

/**
 * A problem with a way back to the fleet.
 * @param {Problem} problem
 */
function problemBox(problem) {
  return h(
    'div',
    { class: 'problem', role: 'alert' },
    h('strong', {}, `${problem.status} ${problem.title}`),
    h('p', {}, problem.detail),
    h('p', {}, h('a', { href: './', 'data-route': true }, 'Back to the fleet')),
  );
}

/**
 * @param {unknown} error
 * @returns {Problem}
 */
function problemOf(error) {
  if (error instanceof ApiError) return error.problem;
  return { type: 'about:blank', title: 'The console failed', status: 0, detail: error instanceof Error ? error.message : String(error) };
}

/**
 * @param {HTMLElement} root
 * @param {ConsoleContext} context
 * @param {string} name
 * @returns {() => void}
 */
export function mountInstance(root, context, name) {
  document.title = `${name} · DRaaS console`;
  const encoded = encodeURIComponent(name);
  /** @type {AbortController} */
  let controller = new AbortController();
  let following = false;
  let deleted = false;
  let unmounted = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let refreshTimer;
  /** @type {ReturnType<typeof createMachineView> | undefined} */
  let machine;

  const badge = h('span', { class: 'head-status' });
  const facts = h('p', { class: 'facts-line' });
  const generation = h('p', { class: 'generation-line' });
  const deletedNotice = h('div', { class: 'deleted-notice', hidden: true });
  const actions = createActions(name, {
    deleted: () => markDeleted(),
    done: () => scheduleRefresh(),
  });
  const head = h(
    'header',
    { class: 'panel instance-head' },
    h('div', { class: 'instance-title' }, h('h1', {}, name), badge),
    facts,
    generation,
    actions.buttons,
    actions.alert,
    deletedNotice,
  );
  const machinePanel = h('section', { class: 'panel machine-panel', 'aria-labelledby': 'machine-heading' }, h('h2', { id: 'machine-heading' }, 'Lifecycle'), h('p', { class: 'loading' }, 'Loading…'));
  const timeline = createTimeline();
  const failure = createFailureView();
  const config = createConfigView(name);
  const logs = createLogView(name);
  const page = h(
    'div',
    { class: 'instance-page' },
    head,
    h('div', { class: 'instance-grid' }, machinePanel, h('div', { class: 'column' }, failure.element, timeline.element)),
    h('div', { class: 'instance-grid' }, config.element, logs.element),
  );
  const loading = h('p', { class: 'loading' }, 'Loading…');
  root.replaceChildren(loading);

  /** @type {{ status: string, desired: string, observed: string, generation: number, observedGeneration: number | null }} */
  const shown = { status: '', desired: '', observed: '', generation: 0, observedGeneration: null };

  function renderHead() {
    badge.replaceChildren(statusBadge(shown.status));
    facts.textContent = `desired ${shown.desired} · observed ${shown.observed}`;
    generation.textContent = generationText(shown.generation, shown.observedGeneration, shown.status);
  }

  /** @param {InstanceView} view */
  function showView(view) {
    Object.assign(shown, {
      status: deleted ? 'Deleted' : view.status,
      desired: view.desiredState,
      observed: view.observedState,
      generation: view.generation,
      observedGeneration: view.observedGeneration,
    });
    renderHead();
    failure.update(view);
    void config.generations(view.generation, view.observedGeneration, shown.status, controller.signal).catch(() => undefined);
  }

  function markDeleted() {
    if (deleted) return;
    deleted = true;
    clearTimeout(refreshTimer);
    shown.status = 'Deleted';
    renderHead();
    actions.buttons.hidden = true;
    deletedNotice.hidden = false;
    deletedNotice.replaceChildren(h('p', {}, h('strong', {}, `${name} was deleted.`), ' ', h('a', { href: './', 'data-route': true }, 'Back to the fleet')));
    // The feed brings the machine to Deleted; without a feed the page still must not say otherwise.
    setTimeout(() => {
      if (!unmounted) machine?.take(null, 'Deleted');
    }, 1_200);
  }

  function scheduleRefresh() {
    if (deleted || unmounted) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      try {
        showView(await getInstance(name, controller.signal));
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.status === 404) markDeleted();
      }
    }, refreshDelayMs);
  }

  /**
   * @param {StatusChangedEvent} event
   * @param {boolean} live played on the machine (a replay is only shown)
   */
  function apply(event, live) {
    timeline.add(event);
    if (!deleted) shown.status = event.to;
    Object.assign(shown, { desired: event.desiredState, observed: event.observedState, generation: event.generation, observedGeneration: event.observedGeneration });
    renderHead();
    if (live) machine?.take(event.from, event.to);
    else machine?.show(event.to);
    void config.generations(event.generation, event.observedGeneration, shown.status, controller.signal).catch(() => undefined);
    if (event.to === 'Running') logs.resume();
    if (event.to === 'Deleted') markDeleted();
    else scheduleRefresh();
  }

  /** @param {AbortSignal} signal */
  async function drawMachine(signal) {
    if (machine !== undefined) return;
    try {
      const document_ = await loadMachine();
      if (signal.aborted || machine !== undefined) return;
      machine = createMachineView(document_, name);
      machinePanel.replaceChildren(h('h2', { id: 'machine-heading' }, 'Lifecycle'), h('div', { class: 'machine-scroll' }, machine.element));
    } catch (error) {
      if (signal.aborted) return;
      machinePanel.replaceChildren(h('h2', { id: 'machine-heading' }, 'Lifecycle'), problemBox(problemOf(error)));
    }
  }

  async function load() {
    controller.abort();
    const own = new AbortController();
    controller = own;
    following = false;
    await context.feed.ready();
    if (own.signal.aborted) return;
    const mark = context.feed.mark();
    try {
      const view = await getInstance(name, own.signal);
      const [changes] = await Promise.all([
        /** @type {Promise<StatusChange[]>} */ (call('GET', `api/status/recent-changes?instanceId=${encoded}&limit=1000`, undefined, own.signal)),
        config.load(own.signal).catch((error) => {
          if (!own.signal.aborted) config.element.append(problemBox(problemOf(error)));
        }),
        drawMachine(own.signal),
      ]);
      /** @type {HistoryEntry[]} */
      let history = [];
      if (changes.length === 0) history = (/** @type {{ history: HistoryEntry[] }} */ (await call('GET', `api/status/${encoded}/status`, undefined, own.signal))).history;
      if (own.signal.aborted) return;
      if (root.firstChild !== page) root.replaceChildren(page);
      showView(view);
      timeline.reset(changes, history);
      machine?.show(view.status);
      const missed = context.feed.replay(mark);
      // Too much arrived while loading to replay: load again.
      if (missed === undefined) return void load();
      for (const event of missed) if (event.instanceId === view.id || event.instanceId === name) apply(event, false);
      following = true;
      if (view.status !== 'Deleted') logs.resume();
    } catch (error) {
      if (own.signal.aborted) return;
      // Unknown instance (or the API down): the problem, and the way back.
      root.replaceChildren(h('h1', {}, name), problemBox(problemOf(error)));
    }
  }

  const stopChanges = context.feed.onChange((event) => {
    if (following && event.instanceId === name) apply(event, true);
  });
  const stopResets = context.feed.onReset(() => void load());
  void load();

  return () => {
    unmounted = true;
    controller.abort();
    clearTimeout(refreshTimer);
    stopChanges();
    stopResets();
    machine?.destroy();
    logs.destroy();
  };
}
