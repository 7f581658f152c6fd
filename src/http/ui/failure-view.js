// @ts-check
/**
 * What went wrong, when something did: the failure (reason, message, exit
 * code or signal, the server's last log lines), the next retry and how many
 * restarts failed in a row, and the conditions that tell of something wrong
 * (a lost worker, drift being repaired, a crash loop, a configuration not applied).
 */
import { age, clockTime, h } from './dom.js';

/** @import { InstanceView } from './api.js' */

export function createFailureView() {
  const body = h('div', {});
  const element = h('section', { class: 'panel failure-panel', 'aria-labelledby': 'failure-heading', hidden: true }, h('h2', { id: 'failure-heading' }, 'Failure'), body);

  return {
    element,
    /** @param {InstanceView} view */
    update(view) {
      const { failure } = view;
      // Ready follows from the status shown above; the others matter when they tell of something wrong.
      const conditions = view.conditions.filter((condition) =>
        condition.type === 'ConfigApplied' ? condition.status === 'False' : condition.type !== 'Ready' && condition.status === 'True',
      );
      const shown = failure !== null || conditions.length > 0 || view.nextRetryAt !== null;
      element.hidden = !shown;
      if (!shown) {
        body.replaceChildren();
        return;
      }
      /** @type {Node[]} */
      const parts = [];
      if (failure !== null) {
        const exit = [
          failure.exitCode !== undefined && failure.exitCode !== null ? `exit code ${failure.exitCode}` : '',
          failure.signal !== undefined && failure.signal !== null ? `signal ${failure.signal}` : '',
        ].filter(Boolean);
        parts.push(
          h(
            'dl',
            { class: 'facts' },
            h('dt', {}, 'Reason'),
            h('dd', { class: 'failure-reason' }, h('strong', {}, failure.reason)),
            h('dt', {}, 'Message'),
            h('dd', { class: 'failure-message' }, failure.message),
            exit.length > 0 && h('dt', {}, 'Exit'),
            exit.length > 0 && h('dd', { class: 'failure-exit' }, exit.join(', ')),
            h('dt', {}, 'At'),
            h('dd', {}, h('time', { datetime: failure.at }, clockTime(failure.at))),
          ),
        );
        if (failure.lastLogLines !== undefined && failure.lastLogLines.length > 0) {
          parts.push(h('h3', {}, 'Last log lines'), h('pre', { class: 'failure-log' }, failure.lastLogLines.join('\n')));
        }
      }
      if (view.nextRetryAt !== null || view.restartCount > 0) {
        parts.push(
          h(
            'p',
            { class: 'retry' },
            view.nextRetryAt !== null ? `Next retry at ${clockTime(view.nextRetryAt)}. ` : '',
            view.restartCount > 0 ? `${view.restartCount} failed start${view.restartCount === 1 ? '' : 's'} in a row.` : '',
          ),
        );
      }
      if (conditions.length > 0) {
        parts.push(
          h('h3', {}, 'Conditions'),
          h(
            'ul',
            { class: 'conditions' },
            conditions.map((condition) =>
              h('li', {}, h('strong', {}, condition.type), condition.since ? ` for ${age(condition.since)}` : '', `: ${condition.message}`),
            ),
          ),
        );
      }
      body.replaceChildren(...parts);
    },
  };
}
