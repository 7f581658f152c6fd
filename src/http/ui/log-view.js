// @ts-check
/**
 * The server's log, followed: `GET …/logs?follow=true&tail=200` read as a
 * stream of text lines into a `<pre>`, at most `maxLines` kept. It stays
 * scrolled to the bottom unless the reader scrolled up; Pause holds the
 * view still (lines are still collected). When the stream ends or fails the
 * panel says so and offers "Follow again".
 */
import { ApiError, apiUrl } from './api.js';
import { authorizedFetch } from './auth.js';
import { h } from './dom.js';

const maxLines = 2_000;

/**
 * The problem of a refused log request.
 * @param {Response} response
 */
async function refusal(response) {
  const text = await response.text();
  try {
    return new ApiError(response.status, JSON.parse(text));
  } catch {
    return new ApiError(response.status, { type: 'about:blank', title: response.statusText, status: response.status, detail: text.slice(0, 300) });
  }
}

/** @param {string} name */
export function createLogView(name) {
  /** @type {string[]} */
  let lines = [];
  let paused = false;
  /** @type {AbortController | undefined} */
  let controller;
  let following = false;
  const output = h('pre', { class: 'log', role: 'log', 'aria-live': 'off', 'aria-label': `Log of ${name}`, tabindex: '0' });
  const state = h('p', { class: 'log-state muted', role: 'status' });
  const pause = h('button', { type: 'button', onclick: () => setPaused(!paused) }, 'Pause');
  const again = h('button', { type: 'button', hidden: true, onclick: () => follow() }, 'Follow again');
  const element = h(
    'section',
    { class: 'panel log-panel', 'aria-labelledby': 'log-heading' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'log-heading' }, 'Log'), h('div', { class: 'toggle' }, pause, again)),
    output,
    state,
  );

  /** @param {boolean} value */
  function setPaused(value) {
    paused = value;
    pause.textContent = paused ? 'Follow' : 'Pause';
    if (!paused) render(true);
  }

  /** @param {boolean} [toBottom] */
  function render(toBottom = false) {
    if (paused) return;
    const atBottom = toBottom || output.scrollTop + output.clientHeight >= output.scrollHeight - 8;
    output.textContent = lines.join('\n');
    if (atBottom) output.scrollTop = output.scrollHeight;
  }

  /** @param {string[]} added */
  function append(added) {
    if (added.length === 0) return;
    lines.push(...added);
    if (lines.length > maxLines) lines = lines.slice(-maxLines);
    render();
  }

  /** @param {string} text */
  function ended(text) {
    following = false;
    state.textContent = text;
    again.hidden = false;
  }

  async function follow() {
    controller?.abort();
    const own = new AbortController();
    controller = own;
    following = true;
    again.hidden = true;
    state.textContent = 'Following…';
    const decoder = new TextDecoder();
    let partial = '';
    try {
      const response = await authorizedFetch(apiUrl(`api/server/instances/${encodeURIComponent(name)}/logs?follow=true&tail=200`), { signal: own.signal });
      if (!response.ok) throw await refusal(response);
      if (response.body === null) throw new Error('the answer has no body');
      // A new follow starts with the tail again: drop what the last one showed.
      lines = [];
      render();
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const text = partial + decoder.decode(value, { stream: true });
        const split = text.split('\n');
        partial = split.pop() ?? '';
        append(split);
      }
      append([partial + decoder.decode()].filter((line) => line !== ''));
      if (controller === own) ended(`The log stream ended at ${new Date().toLocaleTimeString(undefined, { hour12: false })}.`);
    } catch (error) {
      if (own.signal.aborted) return;
      const detail = error instanceof ApiError ? `${error.status} ${error.problem.title}: ${error.problem.detail}` : error instanceof Error ? error.message : String(error);
      if (controller === own) ended(`The log stream failed: ${detail}`);
    }
  }

  return {
    element,
    follow,
    /** Follows again if the stream is not running (a new workload started). */
    resume() {
      if (!following) void follow();
    },
    destroy() {
      controller?.abort();
      controller = undefined;
    },
  };
}
