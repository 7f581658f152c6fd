// @ts-check
/**
 * The console's bearer token, for a control plane started with `--auth`.
 * When the API answers 401 the console asks for a token in a small form,
 * keeps it in sessionStorage (this tab only, gone when it closes) and sends
 * it as `Authorization: Bearer` on every request, the event stream included
 * (never in a URL: URLs end up in logs and histories).
 */
import { h } from './dom.js';

const storageKey = 'draas.token';

/** The token of this tab, if one was given. */
export function token() {
  try {
    return sessionStorage.getItem(storageKey) ?? undefined;
  } catch {
    return undefined;
  }
}

/** @returns {Record<string, string>} the Authorization header, when a token is set */
export function authHeaders() {
  const value = token();
  return value === undefined ? {} : { authorization: `Bearer ${value}` };
}

/**
 * `fetch` with the token.
 * @param {string} url
 * @param {RequestInit} [init]
 */
export function authorizedFetch(url, init = {}) {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(authHeaders())) headers.set(name, value);
  return fetch(url, { ...init, headers });
}

/** @type {HTMLDialogElement | undefined} */
let dialog;

/**
 * Shows the token form (once, however many requests were refused). Saving
 * reloads the page, so every view and the event stream start again with it.
 * @param {string} reason why the API refused (its problem detail)
 */
export function askForToken(reason) {
  if (dialog?.open) return;
  const input = /** @type {HTMLInputElement} */ (
    h('input', { id: 'token-input', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'draas_…' })
  );
  const form = h(
    'form',
    { method: 'dialog', class: 'token-form' },
    h('h2', {}, 'Sign in'),
    h('p', {}, token() === undefined ? 'This control plane needs an API token.' : 'The token was refused.'),
    h('p', { class: 'problem-detail' }, reason),
    h('label', { for: 'token-input' }, 'API token'),
    input,
    h('p', { class: 'hint' }, 'Make one with: draas tokens add NAME --role viewer (or operator, admin). It is kept in this tab only.'),
    h('button', { type: 'submit' }, 'Use token'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (value === '') return;
    try {
      sessionStorage.setItem(storageKey, value);
    } catch {
      // Storage off: the token cannot be kept; nothing else to do.
    }
    window.location.reload();
  });
  dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'token-dialog', 'aria-labelledby': 'token-title' }, form));
  form.querySelector('h2')?.setAttribute('id', 'token-title');
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
}

/** Forgets the token (the "Sign out" button) and reloads. */
export function forgetToken() {
  try {
    sessionStorage.removeItem(storageKey);
  } catch {
    // Nothing kept.
  }
  window.location.reload();
}
