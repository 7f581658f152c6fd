// @ts-check
/**
 * Small DOM helpers. Text is only ever set as text (never parsed as HTML):
 * instance names, reasons, configs and log lines come from users and servers.
 */

/**
 * @typedef {string | number | boolean | null | undefined | ((event: Event) => void)} AttributeValue
 * @typedef {Node | string | number | null | undefined | false} Child
 */

/**
 * An element with attributes (`on…` ones become listeners; false/null/undefined are left out) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, AttributeValue>} [attributes]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, '').toLowerCase(), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value !== false && value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

/**
 * @param {Element} parent
 * @param {(Child | Child[])[]} children
 */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/**
 * A short, readable age: `42 s`, `5 min`, `3 h`, `2 d`.
 * @param {string | number} since an ISO time or epoch ms
 * @param {number} [now]
 */
export function age(since, now = Date.now()) {
  const ms = Math.max(0, now - (typeof since === 'number' ? since : Date.parse(since)));
  if (!Number.isFinite(ms)) return '—';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86_400)} d`;
}

/**
 * A time as the reader's local clock shows it, with milliseconds (transitions are often ms apart).
 * @param {string} iso
 */
export function clockTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toLocaleTimeString(undefined, { hour12: false })}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * A status badge: the status as text, coloured by a class (the colour is never the only cue).
 * @param {string} status
 */
export function statusBadge(status) {
  return h('span', { class: `status status-${status.toLowerCase()}` }, status);
}
