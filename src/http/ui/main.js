// @ts-check
/**
 * The console's entry: one event feed for the page, the connection indicator,
 * and a router that shows the fleet (`/ui`) or one instance
 * (`/ui/instances/<name>`), following links without reloading the page.
 */
import { forgetToken, token } from './auth.js';
import { h } from './dom.js';
import { EventFeed } from './event-feed.js';
import { mountFleet } from './fleet.js';
import { mountInstance } from './instance.js';

/** @import { FeedState } from './event-feed.js' */
/** @typedef {{ feed: EventFeed, navigate: (path: string) => void }} ConsoleContext */

const feed = new EventFeed();
const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const connection = /** @type {HTMLElement} */ (document.getElementById('connection'));

/** @type {Record<FeedState, string>} */
const connectionText = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
};

feed.onState((state, detail) => {
  connection.dataset['state'] = state;
  connection.textContent = connectionText[state];
  connection.title = detail;
});

/** The path below the console's base: '' for the fleet, `instances/<name>`. */
function routeOf(location = window.location) {
  const base = new URL(document.baseURI).pathname;
  const path = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : '';
  return path.replace(/\/$/, '');
}

/** @type {(() => void) | undefined} */
let unmount;

function render() {
  unmount?.();
  main.replaceChildren();
  const route = routeOf();
  const instance = /^instances\/([^/]+)$/.exec(route);
  /** @type {ConsoleContext} */
  const context = { feed, navigate };
  if (instance?.[1] !== undefined) {
    unmount = mountInstance(main, context, decodeURIComponent(instance[1]));
  } else {
    document.title = 'Fleet · DRaaS console';
    unmount = mountFleet(main, context);
  }
}

/** @param {string} path relative to the console's base ('' or `instances/<name>`) */
function navigate(path) {
  const url = new URL(path === '' ? './' : path, document.baseURI);
  if (url.href === window.location.href) return;
  window.history.pushState(null, '', url);
  render();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// Links marked data-route are followed in the page (a modified click still opens a new tab).
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest('a[data-route]') : null;
  if (!(link instanceof HTMLAnchorElement)) return;
  event.preventDefault();
  const base = new URL(document.baseURI);
  navigate(link.href.startsWith(base.href) ? link.href.slice(base.href.length) : '');
});
window.addEventListener('popstate', render);

// A tab that was given a token can forget it.
if (token() !== undefined) {
  connection.after(h('button', { type: 'button', class: 'sign-out', onclick: forgetToken }, 'Sign out'));
}

feed.connect();
render();
