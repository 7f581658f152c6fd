/**
 * The web console (`GET /ui`): a page of plain ES modules served from
 * `src/http/ui/` (copied to `dist/http/ui/` by the build), from the same Koa
 * app as the API — no separate server, no CDN, nothing fetched from
 * elsewhere, so it works offline and wherever the app is mounted.
 *
 * Every page path (`/ui`, `/ui/instances/<name>`) answers the same HTML
 * shell (and `/` redirects to `/ui`); the page's router draws the view. Its `<base href>` is written per
 * request from the path the app was reached by (Koa's `originalUrl` keeps a
 * mount prefix that `path` does not), so assets and API calls resolve
 * relative to wherever the app is mounted.
 *
 * The assets are a fixed list read once, at first use: a request cannot name
 * any other file. A strict Content-Security-Policy (scripts and styles of
 * this origin only, no inline code) keeps an instance's name, config or log
 * lines from ever running as code in the page.
 */
import { readFile } from 'node:fs/promises';
import type { Context, Next } from 'koa';
import { NotFoundError } from '../errors.js';

const uiDirectory = new URL('./ui/', import.meta.url);

/** The files a page may load, with their media types. */
const assets: Readonly<Record<string, string>> = {
  'console.css': 'text/css; charset=utf-8',
  'fleet.css': 'text/css; charset=utf-8',
  'instance.css': 'text/css; charset=utf-8',
  'main.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'event-feed.js': 'text/javascript; charset=utf-8',
  'auth.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'fleet.js': 'text/javascript; charset=utf-8',
  'instance.js': 'text/javascript; charset=utf-8',
  'machine-view.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
  'fleet-model.js': 'text/javascript; charset=utf-8',
  'virtual-list.js': 'text/javascript; charset=utf-8',
  'to-yaml.js': 'text/javascript; charset=utf-8',
  'step-queue.js': 'text/javascript; charset=utf-8',
  'timeline.js': 'text/javascript; charset=utf-8',
  'failure-view.js': 'text/javascript; charset=utf-8',
  'config-view.js': 'text/javascript; charset=utf-8',
  'log-view.js': 'text/javascript; charset=utf-8',
  'instance-actions.js': 'text/javascript; charset=utf-8',
};

const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const cache = new Map<string, Promise<Buffer>>();

function load(file: string): Promise<Buffer> {
  let content = cache.get(file);
  if (content === undefined) {
    content = readFile(new URL(file, uiDirectory));
    // A failed read is not kept: the next request tries again.
    content.catch(() => cache.delete(file));
    cache.set(file, content);
  }
  return content;
}

/** The prefix the app is mounted under (`/ops` when reached as `/ops/ui/…`; empty when not mounted). */
function mountPrefix(ctx: Context): string {
  const original = ctx.originalUrl.split('?')[0] ?? '';
  return original.endsWith(ctx.path) ? original.slice(0, original.length - ctx.path.length) : '';
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function secure(ctx: Context): void {
  ctx.set('Content-Security-Policy', contentSecurityPolicy);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Frame-Options', 'DENY');
}

const pagePath = /^\/ui(?:\/|\/instances\/[^/]+\/?)?$/;
const assetPath = /^\/ui\/assets\/([^/]+)$/;

/** Serves the console; passes every other path on. */
export function consoleMiddleware() {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    // The root is where a person lands first: send them to the console.
    if (ctx.path === '/') {
      ctx.redirect(`${mountPrefix(ctx)}/ui`);
      return;
    }
    if (pagePath.test(ctx.path)) {
      const shell = (await load('index.html')).toString('utf8');
      secure(ctx);
      ctx.set('Cache-Control', 'no-cache');
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = shell.replace('%BASE%', escapeAttribute(`${mountPrefix(ctx)}/ui/`));
      return;
    }
    const asset = assetPath.exec(ctx.path)?.[1];
    if (asset === undefined) return next();
    const type = Object.hasOwn(assets, asset) ? assets[asset] : undefined;
    if (type === undefined) throw new NotFoundError(`the console has no asset "${asset}"`, { asset });
    const content = await load(asset);
    secure(ctx);
    // Assets change only with the package; a revalidation is cheap (the ETag Koa's conditional-get would need is not set up).
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = type;
    ctx.body = content;
  };
}
