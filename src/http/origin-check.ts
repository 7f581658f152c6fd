/**
 * Refuses a browser request from a page of another origin (403), unless
 * that origin is listed (`corsOrigins`); answers CORS preflights and marks
 * responses for the listed ones only. CORS is off by default.
 *
 * A request without `Origin` is not a browser's cross-origin request (a
 * browser sends Origin on every cross-origin request and every POST, PATCH
 * and DELETE, `null` when it hides it) and passes. A request whose Origin is
 * its own `Host` is same-origin — a page the server itself serves, such as a
 * console at /ui — and passes too: that is why the Host check must run
 * first (a rebound name is "same-origin" with itself). Checked for every
 * method, reads included: a foreign page gets nothing, not even an SSE slot.
 *
 * Left out: credentials (no cookies or tokens yet, so no
 * `Access-Control-Allow-Credentials`), and `*`: with no authentication it
 * would let any page drive the API.
 */
import type { Context, Next } from 'koa';
import { DraasError } from '../errors.js';

/** Methods and request headers a listed origin's page may use. */
const allowMethods = 'GET, POST, PATCH, DELETE';
// Authorization: a bearer token (--auth); sent by a script, never by the browser on its own (no cookies).
const allowHeaders = 'Authorization, Content-Type, Last-Event-ID, Idempotency-Key, If-Match, If-None-Match';
/** Response headers its script may read besides the safelisted ones. */
const exposeHeaders = 'Location, Retry-After, ETag, Link, Next-Cursor, Idempotent-Replayed, WWW-Authenticate';
/** How long a browser may cache a preflight answer (seconds). */
const preflightMaxAge = '600';

/** The serialized origin of an Origin header value; undefined for `null` and anything else that is not one. */
function originOf(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a `corsOrigins` entry (`scheme://host[:port]`) to its serialized form; throws an Error that names it. */
export function parseCorsOrigin(entry: string): string {
  const url = originOf(entry.trim());
  const why = entry.trim() === '*' ? '; * is not accepted: without authentication any web page could drive the API' : '';
  if (!url || url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '' || why !== '') {
    throw new Error(`CORS origin "${entry}" is not an origin such as https://console.example:8443 (http or https, host, optional port, no path)${why}`);
  }
  return url.origin;
}

export function originCheck(corsOrigins: readonly string[]) {
  const listed = new Set(corsOrigins);
  return async function checkOrigin(ctx: Context, next: Next): Promise<void> {
    // Answers differ by Origin once some are listed: caches must keep them apart.
    if (listed.size > 0) ctx.vary('Origin');
    const origin = ctx.get('Origin');
    if (origin === '') return next();
    const url = originOf(origin);
    const isListed = url !== undefined && listed.has(url.origin);
    const sameOrigin = url !== undefined && url.host === ctx.get('Host').toLowerCase();
    if (!isListed && !sameOrigin) {
      throw new DraasError(
        'forbidden',
        `requests from origin "${origin}" are refused: it is not this server's own origin, and not one of the listed CORS origins ` +
          '(--cors-origins / DRAAS_CORS_ORIGINS, or corsOrigins of createHttpApp)',
        { reason: 'origin-not-allowed', origin },
      );
    }
    if (isListed) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Expose-Headers', exposeHeaders);
    }
    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') !== '') {
      ctx.set('Access-Control-Allow-Methods', allowMethods);
      ctx.set('Access-Control-Allow-Headers', allowHeaders);
      ctx.set('Access-Control-Max-Age', preflightMaxAge);
      ctx.status = 204;
      return;
    }
    await next();
  };
}
