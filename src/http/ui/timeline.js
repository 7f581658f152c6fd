// @ts-check
/**
 * The instance's history: every status change, newest first, one entry per
 * change sequence (a change seen both over REST and on the feed is shown
 * once). Before any change is recorded in the change log, the status's own
 * `history` (which has no sequences) stands in.
 */
import { clockTime, h } from './dom.js';

/**
 * @import { HistoryEntry, StatusChange, StatusChangedEvent } from './api.js'
 * @typedef {{ sequence: number | undefined, at: string, from: string | null, to: string, cause: string, reason?: string | undefined }} TimelineEntry
 */

export function createTimeline() {
  const list = h('ol', { class: 'timeline', 'aria-label': 'Status changes, newest first' });
  const empty = h('p', { class: 'muted' }, 'No status changes recorded yet.');
  const element = h('section', { class: 'panel timeline-panel', 'aria-labelledby': 'timeline-heading' }, h('h2', { id: 'timeline-heading' }, 'History'), empty, list);
  /** @type {Map<string, TimelineEntry>} */
  const entries = new Map();

  /** @param {TimelineEntry} entry */
  function keyOf(entry) {
    return entry.sequence !== undefined ? `#${entry.sequence}` : `${entry.at} ${entry.from} ${entry.to}`;
  }

  function render() {
    const sorted = [...entries.values()].sort((a, b) => {
      if (a.sequence !== undefined && b.sequence !== undefined) return b.sequence - a.sequence;
      return Date.parse(b.at) - Date.parse(a.at);
    });
    empty.hidden = sorted.length > 0;
    list.replaceChildren(...sorted.map(item));
  }

  /** @param {TimelineEntry} entry */
  function item(entry) {
    const failed = entry.to === 'Failed';
    return h(
      'li',
      { class: failed ? 'timeline-entry failed' : 'timeline-entry', 'data-sequence': entry.sequence, 'data-to': entry.to },
      h('time', { datetime: entry.at, class: 'mono' }, clockTime(entry.at)),
      ' ',
      h('span', { class: 'transition' }, entry.from ?? '(created)', ' → ', h('strong', {}, entry.to)),
      failed && h('span', { class: 'failed-flag' }, ' ⚠ failed'),
      h('span', { class: 'cause muted' }, ` · ${entry.cause}`),
      entry.reason !== undefined && entry.reason !== '' && h('span', { class: 'reason' }, ` · ${entry.reason}`),
    );
  }

  /** @param {StatusChange | StatusChangedEvent} change */
  function fromChange(change) {
    return { sequence: change.sequence, at: change.at, from: change.from, to: change.to, cause: change.cause, reason: change.reason };
  }

  return {
    element,
    /**
     * Replaces every entry: the changes recorded, else the status's history.
     * @param {StatusChange[]} changes
     * @param {HistoryEntry[]} history
     */
    reset(changes, history) {
      entries.clear();
      if (changes.length > 0) for (const change of changes) entries.set(`#${change.sequence}`, fromChange(change));
      else for (const entry of history) {
        const fallback = { sequence: undefined, at: entry.at, from: entry.from, to: entry.to, cause: entry.cause, reason: entry.reason };
        entries.set(keyOf(fallback), fallback);
      }
      render();
    },
    /** @param {StatusChangedEvent} event */
    add(event) {
      const entry = fromChange(event);
      const key = keyOf(entry);
      if (entries.has(key)) return;
      entries.set(key, entry);
      render();
    },
  };
}
