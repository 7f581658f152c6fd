// @ts-check
/**
 * Plays items one after another, each as a step of its own (a separate
 * task, so every step is seen), while bounding how late the last one lands:
 * whenever an item arrives, everything queued is squeezed into `budgetMs`
 * from now. A lone item takes `maxStepMs`; a burst takes a few ms per step.
 */

/** @template T */
export class StepQueue {
  /** @type {T[]} */
  #queue = [];
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;
  #stepStarted = 0;
  #stepMs = 0;
  #deadline = 0;
  #budgetMs;
  #maxStepMs;
  #begin;
  #land;

  /**
   * @param {{ budgetMs: number, maxStepMs: number, begin: (item: T) => void, land: (item: T) => void }} options
   *   `begin` when an item's step starts, `land` when it ends
   */
  constructor(options) {
    this.#budgetMs = options.budgetMs;
    this.#maxStepMs = options.maxStepMs;
    this.#begin = options.begin;
    this.#land = options.land;
  }

  /** @param {T} item */
  push(item) {
    this.#queue.push(item);
    this.#deadline = performance.now() + this.#budgetMs;
    if (this.#timer === undefined) {
      this.#next();
      return;
    }
    // A step is running: shorten it if the new deadline needs that.
    const now = performance.now();
    const allowed = this.#share(now);
    const remaining = this.#stepStarted + this.#stepMs - now;
    if (allowed < remaining) {
      clearTimeout(this.#timer);
      this.#stepMs = now - this.#stepStarted + allowed;
      this.#timer = setTimeout(() => this.#finish(), allowed);
    }
  }

  /** Drops whatever is queued (a reload, an unmount). */
  clear() {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }

  /** @param {number} now */
  #share(now) {
    return Math.min(this.#maxStepMs, Math.max(0, (this.#deadline - now) / Math.max(1, this.#queue.length)));
  }

  #next() {
    const item = this.#queue[0];
    if (item === undefined) return;
    this.#begin(item);
    this.#stepStarted = performance.now();
    this.#stepMs = this.#share(this.#stepStarted);
    this.#timer = setTimeout(() => this.#finish(), this.#stepMs);
  }

  #finish() {
    this.#timer = undefined;
    const item = this.#queue.shift();
    if (item !== undefined) this.#land(item);
    this.#next();
  }
}
