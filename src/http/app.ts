/**
 * The Koa application: problem+json errors, the request guards, JSON
 * bodies, the web console (/ui), the REST routes.
 *
 * The defaults keep a reachable API from being a way in for a web page (see
 * docs/security.md, "HTTP"): the guards run in this order, each refusing
 * before anything is read or done — the Host (421, against DNS rebinding;
 * first, because the Origin check trusts a request's own Host), the browser
 * Origin (403; CORS preflights answered for listed origins), with `auth` the
 * bearer token and its role (401, 403; see auth.ts), the body's media type
 * (415), its size (413).
 *
 * Koa's types are part of the library's API (`createHttpApp`, a hosted
 * control plane's `app`, meant to be mounted in the user's own Koa app), so
 * `@types/koa` is a dependency, not a devDependency: a consumer's strict
 * `tsc` resolves them without installing anything, and `app` is a `Koa`, not
 * an `any`.
 */
import Koa from 'koa';
import type { ControlPlane } from '../actors/control-plane.js';
import { refuseDeepInput } from '../api/instance-requests.js';
import { authMiddleware, type HttpAuthOptions } from './auth.js';
import { hostCheck, parseAllowedHost } from './host-check.js';
import { DEFAULT_MAX_BODY_BYTES } from './http-defaults.js';
import { jsonBody } from './json-body.js';
import { mediaTypeCheck } from './media-type-check.js';
import { originCheck, parseCorsOrigin } from './origin-check.js';
import { problemMiddleware } from './problem.js';
import { createRoutes, type RouteOptions } from './routes.js';
import { consoleMiddleware } from './console.js';
import { requestTelemetry } from './request-telemetry.js';
import { isLogger, toLogger, type LogOption } from '../observability/logger.js';
import { ControlPlaneMetrics } from '../observability/control-plane-metrics.js';

export interface HttpAppOptions extends Omit<RouteOptions, 'log'> {
  /**
   * Where the API logs: a `Logger` gets one access line per request (info)
   * besides failures; a plain function only the failures (default: stderr).
   */
  log?: LogOption;
  /**
   * Host names the API answers for besides IP addresses and `localhost`:
   * `draas.internal` (any port), `draas.internal:443` (that port only), or
   * `*` for any Host (only behind a proxy that checks it). Default none.
   */
  allowedHosts?: readonly string[];
  /**
   * Origins (`https://console.example:8443`) whose web pages may call the
   * API (CORS). Default none: only pages of the server's own origin.
   */
  corsOrigins?: readonly string[];
  /** The largest request body in bytes; larger is 413 (default 1 MiB). */
  maxBodyBytes?: number;
  /**
   * Authentication: when given, every operation but the public ones needs a
   * bearer token of a role the catalog allows (401/403 otherwise), and
   * requests to mutations are written to `auth.audit`. Default none: every
   * caller may do everything (see docs/security.md).
   */
  auth?: HttpAuthOptions;
}

/** Throws (an Error naming the entry) on a malformed host name or origin: options are checked when the app is made. */
export function createHttpApp(controlPlane: ControlPlane, options: HttpAppOptions = {}): Koa {
  const allowedHosts = (options.allowedHosts ?? []).map(parseAllowedHost);
  const corsOrigins = (options.corsOrigins ?? []).map(parseCorsOrigin);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  for (const [name, value, min] of [
    ['maxBodyBytes', maxBodyBytes, 1],
    ['maxEventClients', options.maxEventClients ?? 0, 0],
    ['maxLogFollows', options.maxLogFollows ?? 0, 0],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, got ${value}`);
  }
  const app = new Koa();
  const logger = toLogger(options.log ?? ((message) => console.error(message)));
  const log = (message: string) => logger.error(message);
  const streams = new ControlPlaneMetrics(controlPlane.metrics);
  const router = createRoutes(controlPlane, {
    ...options,
    log: logger,
    streamSlots: (kind, slots) => streams.streams(kind, slots),
    ...(options.auth?.audit !== undefined ? { audit: options.auth.audit } : {}),
  });
  // What escapes the problem middleware: failures while a streamed body is sent.
  app.on('error', (error: unknown) => {
    // A client that stops following a log closes the stream early: that is how a follow ends.
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    log(`error while responding: ${error instanceof Error ? error.message : String(error)}`);
  });
  app.use(requestTelemetry(logger, { accessLog: isLogger(options.log) }));
  app.use(problemMiddleware(log));
  app.use(hostCheck(allowedHosts));
  app.use(originCheck(corsOrigins));
  // Before the body is read: a 401 or 403 never depends on it.
  if (options.auth !== undefined) app.use(authMiddleware(router, options.auth, log));
  app.use(mediaTypeCheck());
  app.use(jsonBody(maxBodyBytes));
  // Checked here too, not only in the library API: a body forwarded to another replica is serialised before it is parsed there.
  app.use(async (ctx, next) => {
    refuseDeepInput(ctx.request.body, 'request body');
    await next();
  });
  // The web console (/ui): its pages and assets, behind the same guards as the API.
  app.use(consoleMiddleware());
  app.use(router.routes());
  // A known path with another method: 405 with Allow (the problem middleware writes the body).
  app.use(router.allowedMethods());
  return app;
}
