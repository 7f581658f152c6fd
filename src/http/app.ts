/**
 * The Koa application: problem+json errors, JSON bodies, the REST routes.
 *
 * Koa's types are part of the library's API (`createHttpApp`, a hosted
 * control plane's `app`, meant to be mounted in the user's own Koa app), so
 * `@types/koa` is a dependency, not a devDependency: a consumer's strict
 * `tsc` resolves them without installing anything, and `app` is a `Koa`, not
 * an `any`.
 */
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import type { ControlPlane } from '../actors/control-plane.js';
import { refuseDeepInput } from '../api/instance-requests.js';
import { problemMiddleware } from './problem.js';
import { createRoutes, type RouteOptions } from './routes.js';

export interface HttpAppOptions extends RouteOptions {
  log?: (message: string) => void;
}

export function createHttpApp(controlPlane: ControlPlane, options: HttpAppOptions = {}): Koa {
  const app = new Koa();
  const router = createRoutes(controlPlane, options);
  const log = options.log ?? ((message) => console.error(message));
  // What escapes the problem middleware: failures while a streamed body is sent.
  app.on('error', (error: unknown) => {
    // A client that stops following a log closes the stream early: that is how a follow ends.
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    log(`error while responding: ${error instanceof Error ? error.message : String(error)}`);
  });
  app.use(problemMiddleware(log));
  app.use(
    bodyParser({
      // Its default JSON types include application/json-patch+json. (extendTypes merges arrays by
      // index and would replace application/json.)
      enableTypes: ['json'],
      jsonLimit: '1mb',
      // Any JSON value, not only objects: a JSON Patch is an array.
      jsonStrict: false,
      onError: (error, ctx) => {
        ctx.throw(400, `request body is not valid JSON: ${error.message}`);
      },
    }),
  );
  // Checked here too, not only in the library API: a body forwarded to another replica is serialised before it is parsed there.
  app.use(async (ctx, next) => {
    refuseDeepInput(ctx.request.body, 'request body');
    await next();
  });
  app.use(router.routes());
  // A known path with another method: 405 with Allow (the problem middleware writes the body).
  app.use(router.allowedMethods());
  return app;
}
