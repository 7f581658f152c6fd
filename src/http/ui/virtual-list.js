// @ts-check
/**
 * A windowed list: rows of one fixed height inside a scroll container, of
 * which only those in view (plus some overscan) exist in the DOM — however
 * many items there are. A spacer as tall as all the rows keeps the
 * scrollbar true; each row is placed by a transform.
 *
 * Rows are keyed by index while they stay in the window (a focused link in
 * a row keeps its element while scrolling); rows that leave it are reused
 * for the ones that come in, so a scroll only rewrites a few rows' text.
 */

/**
 * @template T
 * @typedef {{
 *   viewport: HTMLElement,
 *   rowHeight: number,
 *   overscan?: number,
 *   createRow: () => HTMLElement,
 *   updateRow: (row: HTMLElement, item: T, index: number) => void,
 * }} VirtualListOptions
 */

/** @template T */
export class VirtualList {
  /** @type {HTMLElement} */
  #viewport;
  /** @type {HTMLElement} */
  #spacer;
  #rowHeight;
  #overscan;
  /** @type {() => HTMLElement} */
  #createRow;
  /** @type {(row: HTMLElement, item: T, index: number) => void} */
  #updateRow;
  /** @type {readonly T[]} */
  #items = [];
  /** @type {Map<number, HTMLElement>} */
  #rows = new Map();
  /** @type {HTMLElement[]} */
  #spare = [];
  /** @type {ResizeObserver} */
  #resize;
  #onScroll = () => this.#draw(false);

  /** @param {VirtualListOptions<T>} options */
  constructor(options) {
    this.#viewport = options.viewport;
    this.#rowHeight = options.rowHeight;
    this.#overscan = options.overscan ?? 8;
    this.#createRow = options.createRow;
    this.#updateRow = options.updateRow;
    this.#spacer = document.createElement('div');
    this.#spacer.className = 'virtual-spacer';
    this.#viewport.append(this.#spacer);
    this.#viewport.addEventListener('scroll', this.#onScroll, { passive: true });
    // The window depends on the viewport's height, which is known only once laid out (and changes with the page).
    this.#resize = new ResizeObserver(() => this.#draw(false));
    this.#resize.observe(this.#viewport);
  }

  /**
   * Shows these items (every row in the window is rewritten: its item may have changed).
   * @param {readonly T[]} items
   */
  setItems(items) {
    this.#items = items;
    this.#spacer.style.height = `${items.length * this.#rowHeight}px`;
    this.#draw(true);
  }

  /** Rewrites the rows in the window (e.g. ages that moved on). */
  refresh() {
    this.#draw(true);
  }

  /** @param {number} index */
  scrollToIndex(index) {
    this.#viewport.scrollTop = index * this.#rowHeight;
    this.#draw(false);
  }

  /** @param {boolean} rewrite */
  #draw(rewrite) {
    const count = this.#items.length;
    const top = this.#viewport.scrollTop;
    // Before layout the height is 0: draw a screenful anyway, so the first paint is not empty.
    const height = this.#viewport.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / this.#rowHeight) - this.#overscan);
    const end = Math.min(count, Math.ceil((top + height) / this.#rowHeight) + this.#overscan);
    for (const [index, row] of this.#rows) {
      if (index >= first && index < end) continue;
      this.#rows.delete(index);
      row.remove();
      this.#spare.push(row);
    }
    for (let index = first; index < end; index += 1) {
      let row = this.#rows.get(index);
      const fresh = row === undefined;
      if (row === undefined) {
        row = this.#spare.pop() ?? this.#createRow();
        row.style.transform = `translateY(${index * this.#rowHeight}px)`;
        this.#rows.set(index, row);
      }
      if (fresh || rewrite) this.#updateRow(row, /** @type {T} */ (this.#items[index]), index);
    }
    // DOM order follows the index (Tab goes down the list); rows already there keep their order, so only new ones move.
    /** @type {ChildNode | null} */
    let next = this.#spacer.firstChild;
    for (let index = first; index < end; index += 1) {
      const row = /** @type {HTMLElement} */ (this.#rows.get(index));
      if (row !== next) this.#spacer.insertBefore(row, next);
      next = row.nextSibling;
    }
  }

  destroy() {
    this.#resize.disconnect();
    this.#viewport.removeEventListener('scroll', this.#onScroll);
    this.#rows.clear();
    this.#spare = [];
    this.#spacer.remove();
  }
}
