// @ts-check
/**
 * Start, Stop, Restart and Delete. Every button is always offered: the
 * server decides what the state allows, and a refusal (its problem+json:
 * status, title, detail) is shown in an alert. A button is disabled and
 * busy only while its own request runs. Delete asks again in the page.
 */
import { ApiError, call } from './api.js';
import { h } from './dom.js';

/** @import { Problem } from './api.js' */

/**
 * @param {string} name
 * @param {{ deleted: () => void, done: () => void }} hooks `deleted` after a 204, `done` after any answer
 */
export function createActions(name, hooks) {
  const alert = h('div', { class: 'alert-region', role: 'alert' });
  const path = `api/server/instances/${encodeURIComponent(name)}`;

  /** @param {Problem} problem */
  function showProblem(problem) {
    alert.replaceChildren(
      h(
        'div',
        { class: 'problem' },
        h('strong', {}, `${problem.status} ${problem.title}`),
        h('p', { class: 'problem-detail' }, problem.detail),
        h('button', { type: 'button', class: 'dismiss', onclick: () => alert.replaceChildren() }, 'Dismiss'),
      ),
    );
  }

  /**
   * @param {HTMLButtonElement} button
   * @param {() => Promise<unknown>} request
   */
  async function run(button, request) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    alert.replaceChildren();
    try {
      await request();
      return true;
    } catch (error) {
      if (error instanceof ApiError) showProblem(error.problem);
      else showProblem({ type: 'about:blank', title: 'Request failed', status: 0, detail: error instanceof Error ? error.message : String(error) });
      return false;
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      hooks.done();
    }
  }

  /** @param {'start' | 'stop' | 'restart'} verb @param {string} label */
  function lifecycleButton(verb, label) {
    const button = h('button', { type: 'button', class: `action-${verb}` }, label);
    button.addEventListener('click', () => void run(button, () => call('POST', `${path}/${verb}`)));
    return button;
  }

  const remove = h('button', { type: 'button', class: 'danger action-delete' }, 'Delete');
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel');
  let confirming = false;
  /** @param {boolean} value */
  function setConfirming(value) {
    confirming = value;
    remove.textContent = value ? 'Confirm delete' : 'Delete';
    cancel.hidden = !value;
  }
  cancel.addEventListener('click', () => setConfirming(false));
  remove.addEventListener('click', async () => {
    if (!confirming) {
      setConfirming(true);
      remove.focus();
      return;
    }
    setConfirming(false);
    cancel.hidden = true;
    if (await run(remove, () => call('DELETE', path))) hooks.deleted();
  });

  const buttons = h(
    'div',
    { class: 'actions', role: 'group', 'aria-label': 'Lifecycle actions' },
    lifecycleButton('start', 'Start'),
    lifecycleButton('stop', 'Stop'),
    lifecycleButton('restart', 'Restart'),
    remove,
    cancel,
  );
  return { buttons, alert, showProblem };
}
