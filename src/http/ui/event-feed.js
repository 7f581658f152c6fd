// @ts-check
/**
 * The page's one connection to `GET /api/events`: status changes of every
 * instance, in order, with heartbeats, shared by whatever view is shown.
 *
 * Resuming: the browser's EventSource reconnects by itself after a dropped
 * connection and sends `Last-Event-ID`, so the server replays what was
 * missed. When the stream is refused (a 503 when the server is full, the
 * server gone) EventSource gives up; the feed then reopens it itself, with
 * backoff, from the last id it saw. A stream that stays silent longer than
 * the watchdog (heartbeats stopped: a dead proxy, a suspended laptop) is
 * reopened the same way. A `reset` (the server no longer keeps what was
 * missed) tells the views to reload.
 *
 * Views load their data over REST and then follow the feed. So that nothing
 * is lost between the two, a view takes a `mark()` before it loads and
 * `replay(mark)`s what arrived since — events that its data already shows
 * are applied again, in order, which ends in the same state.
 *
 * With a token (a control plane started with `--auth`) the stream is read
 * with fetch instead, as EventSource cannot send an Authorization header
 * (and a token never goes in a URL). The same semantics are kept by hand:
 * `Last-Event-ID` on every reconnect, a prompt reconnect when a stream ends,
 * backoff when it is refused, the watchdog; a 401 asks for a token.
 */
import { apiUrl } from './api.js';
import { askForToken, authHeaders, token } from './auth.js';

/** @import { StatusChangedEvent } from './api.js' */
/** @typedef {'connecting' | 'live' | 'reconnecting' | 'disconnected'} FeedState */

/** Events kept for `replay` (a view's load takes far less than this many changes). */
const bufferSize = 10_000;

export class EventFeed {
  /** @type {EventSource | undefined} */
  #source;
  /** The fetch-read stream of a tab with a token. */
  /** @type {AbortController | undefined} */
  #streaming;
  /** The server's `retry:` (ms), for a stream that ended. */
  #retryMs = 1_000;
  /** @type {number | undefined} */
  #lastSequence;
  /** @type {StatusChangedEvent[]} */
  #buffer = [];
  /** How many events arrived before the first one still in the buffer. */
  #dropped = 0;
  /** @type {Set<(event: StatusChangedEvent) => void>} */
  #changeListeners = new Set();
  /** @type {Set<(reason: string) => void>} */
  #resetListeners = new Set();
  /** @type {Set<(state: FeedState, detail: string) => void>} */
  #stateListeners = new Set();
  /** @type {FeedState} */
  #state = 'connecting';
  #detail = '';
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #reopenTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #watchdog;
  #attempt = 0;
  #watchdogMs;
  /** @type {Promise<void>} */
  #firstOpen;
  /** @type {() => void} */
  #opened = () => undefined;

  /** @param {{ watchdogMs?: number }} [options] */
  constructor(options = {}) {
    this.#watchdogMs = options.watchdogMs ?? 45_000;
    this.#firstOpen = new Promise((resolve) => {
      this.#opened = resolve;
    });
  }

  get state() {
    return this.#state;
  }

  get detail() {
    return this.#detail;
  }

  /** The sequence of the newest change seen. */
  get lastSequence() {
    return this.#lastSequence;
  }

  /** Opens the stream. */
  connect() {
    this.#open();
  }

  /** Resolves once the stream is open (so changes from then on will arrive), or after `timeoutMs` regardless. */
  ready(timeoutMs = 3_000) {
    return Promise.race([this.#firstOpen, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  }

  /** A position in the feed: `replay(mark)` gives what arrives after it. */
  mark() {
    return this.#dropped + this.#buffer.length;
  }

  /**
   * The changes that arrived since `mark`, in order; undefined when some of them are no longer buffered (reload).
   * @param {number} mark
   */
  replay(mark) {
    if (mark < this.#dropped) return undefined;
    return this.#buffer.slice(mark - this.#dropped);
  }

  /** @param {(event: StatusChangedEvent) => void} listener */
  onChange(listener) {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** @param {(reason: string) => void} listener */
  onReset(listener) {
    this.#resetListeners.add(listener);
    return () => this.#resetListeners.delete(listener);
  }

  /** @param {(state: FeedState, detail: string) => void} listener */
  onState(listener) {
    this.#stateListeners.add(listener);
    listener(this.#state, this.#detail);
    return () => this.#stateListeners.delete(listener);
  }

  /**
   * @param {FeedState} state
   * @param {string} detail
   */
  #setState(state, detail) {
    if (state === this.#state && detail === this.#detail) return;
    this.#state = state;
    this.#detail = detail;
    for (const listener of this.#stateListeners) listener(state, detail);
  }

  #open() {
    clearTimeout(this.#reopenTimer);
    this.#source?.close();
    this.#source = undefined;
    this.#streaming?.abort();
    this.#streaming = undefined;
    if (token() !== undefined) {
      void this.#stream();
      return;
    }
    const query = new URLSearchParams({ type: 'status-changed,heartbeat' });
    if (this.#lastSequence !== undefined) query.set('lastEventId', String(this.#lastSequence));
    const source = new EventSource(apiUrl(`api/events?${query}`));
    this.#source = source;
    this.#armWatchdog();
    source.addEventListener('open', () => this.#onOpen());
    source.addEventListener('error', () => {
      if (source !== this.#source) return;
      if (source.readyState === EventSource.CONNECTING) {
        this.#setState('reconnecting', 'the connection dropped; the browser is reconnecting');
        return;
      }
      // Refused or unreachable: EventSource has given up, so the feed retries itself.
      this.#reopenLater('the control plane refused or did not answer the event stream');
    });
    for (const type of ['heartbeat', 'status-changed', 'reset']) {
      source.addEventListener(type, (message) => this.#dispatch(type, /** @type {MessageEvent} */ (message).data));
    }
  }

  #onOpen() {
    this.#attempt = 0;
    this.#armWatchdog();
    this.#setState('live', '');
    this.#opened();
  }

  /**
   * One event of the stream, from EventSource or the fetch reader.
   * @param {string} type
   * @param {string} data
   */
  #dispatch(type, data) {
    this.#armWatchdog();
    if (type === 'status-changed') {
      /** @type {StatusChangedEvent} */
      const event = JSON.parse(data);
      if (this.#lastSequence !== undefined && event.sequence <= this.#lastSequence) return;
      this.#lastSequence = event.sequence;
      this.#buffer.push(event);
      if (this.#buffer.length > bufferSize) {
        const excess = this.#buffer.length - bufferSize;
        this.#buffer.splice(0, excess);
        this.#dropped += excess;
      }
      for (const listener of this.#changeListeners) listener(event);
    } else if (type === 'reset') {
      const reset = JSON.parse(data);
      if (typeof reset.newest === 'number') this.#lastSequence = reset.newest;
      // Whatever a view replays from before the reset is incomplete.
      this.#dropped += this.#buffer.length;
      this.#buffer = [];
      for (const listener of this.#resetListeners) listener(String(reset.reason ?? 'the event stream was reset'));
    }
  }

  /** The stream read with fetch (a tab with a token): EventSource's parsing and reconnects, by hand. */
  async #stream() {
    const controller = new AbortController();
    this.#streaming = controller;
    this.#armWatchdog();
    /** @type {Record<string, string>} */
    const headers = { accept: 'text/event-stream', ...authHeaders() };
    if (this.#lastSequence !== undefined) headers['last-event-id'] = String(this.#lastSequence);
    let response;
    try {
      response = await fetch(apiUrl('api/events?type=status-changed%2Cheartbeat'), { headers, signal: controller.signal, cache: 'no-store' });
    } catch {
      if (!controller.signal.aborted) this.#reopenLater('the control plane did not answer the event stream');
      return;
    }
    if (response.status === 401) {
      const problem = await response.json().catch(() => ({}));
      askForToken(typeof problem.detail === 'string' ? problem.detail : 'the token was refused');
      this.#reopenLater('the event stream needs a valid token');
      return;
    }
    if (!response.ok || response.body === null) {
      void response.body?.cancel();
      this.#reopenLater(`the control plane refused the event stream (${response.status})`);
      return;
    }
    this.#onOpen();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    /** @type {{ type: string, data: string[] }} */
    let frame = { type: 'message', data: [] };
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pending += value;
        const lines = pending.split(/\r\n|\r|\n/);
        pending = lines.pop() ?? '';
        for (const line of lines) {
          if (line === '') {
            if (frame.data.length > 0) this.#dispatch(frame.type, frame.data.join('\n'));
            frame = { type: 'message', data: [] };
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') frame.type = text;
          else if (field === 'data') frame.data.push(text);
          else if (field === 'retry' && /^\d+$/.test(text)) this.#retryMs = Number(text);
        }
      }
    } catch {
      // A dropped connection: reconnected below, as EventSource would.
    }
    if (controller.signal.aborted || controller !== this.#streaming) return;
    // The stream ended (a restart, a proxy's timeout): reconnect after the server's retry delay, from the last id.
    this.#setState('reconnecting', 'the connection dropped; reconnecting');
    clearTimeout(this.#watchdog);
    this.#reopenTimer = setTimeout(() => this.#open(), this.#retryMs);
  }

  /** @param {string} why */
  #reopenLater(why) {
    this.#source?.close();
    this.#streaming?.abort();
    clearTimeout(this.#watchdog);
    const delay = Math.min(10_000, 500 * 2 ** this.#attempt);
    this.#attempt += 1;
    this.#setState('disconnected', `${why}; retrying in ${Math.round(delay / 1000)} s`);
    this.#reopenTimer = setTimeout(() => {
      this.#setState('reconnecting', 'reconnecting…');
      this.#open();
    }, delay);
  }

  #armWatchdog() {
    clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(() => this.#reopenLater('nothing heard from the control plane for a while'), this.#watchdogMs);
  }

  close() {
    clearTimeout(this.#reopenTimer);
    clearTimeout(this.#watchdog);
    this.#source?.close();
    this.#source = undefined;
    this.#streaming?.abort();
    this.#streaming = undefined;
  }
}
