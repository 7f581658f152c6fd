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
 */
import { apiUrl } from './api.js';

/** @import { StatusChangedEvent } from './api.js' */
/** @typedef {'connecting' | 'live' | 'reconnecting' | 'disconnected'} FeedState */

/** Events kept for `replay` (a view's load takes far less than this many changes). */
const bufferSize = 10_000;

export class EventFeed {
  /** @type {EventSource | undefined} */
  #source;
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
    const query = new URLSearchParams({ type: 'status-changed,heartbeat' });
    if (this.#lastSequence !== undefined) query.set('lastEventId', String(this.#lastSequence));
    const source = new EventSource(apiUrl(`api/events?${query}`));
    this.#source = source;
    this.#armWatchdog();
    source.addEventListener('open', () => {
      this.#attempt = 0;
      this.#armWatchdog();
      this.#setState('live', '');
      this.#opened();
    });
    source.addEventListener('error', () => {
      if (source !== this.#source) return;
      if (source.readyState === EventSource.CONNECTING) {
        this.#setState('reconnecting', 'the connection dropped; the browser is reconnecting');
        return;
      }
      // Refused or unreachable: EventSource has given up, so the feed retries itself.
      this.#reopenLater('the control plane refused or did not answer the event stream');
    });
    source.addEventListener('heartbeat', () => this.#armWatchdog());
    source.addEventListener('status-changed', (message) => {
      this.#armWatchdog();
      /** @type {StatusChangedEvent} */
      const event = JSON.parse(message.data);
      if (this.#lastSequence !== undefined && event.sequence <= this.#lastSequence) return;
      this.#lastSequence = event.sequence;
      this.#buffer.push(event);
      if (this.#buffer.length > bufferSize) {
        const excess = this.#buffer.length - bufferSize;
        this.#buffer.splice(0, excess);
        this.#dropped += excess;
      }
      for (const listener of this.#changeListeners) listener(event);
    });
    source.addEventListener('reset', (message) => {
      this.#armWatchdog();
      const data = JSON.parse(message.data);
      if (typeof data.newest === 'number') this.#lastSequence = data.newest;
      // Whatever a view replays from before the reset is incomplete.
      this.#dropped += this.#buffer.length;
      this.#buffer = [];
      for (const listener of this.#resetListeners) listener(String(data.reason ?? 'the event stream was reset'));
    });
  }

  /** @param {string} why */
  #reopenLater(why) {
    this.#source?.close();
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
  }
}
