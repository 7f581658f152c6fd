/**
 * The one place errors become HTTP responses: `application/problem+json`
 * (RFC 9457) with a stable `type`, never a stack trace.
 */
import { trace } from '@opentelemetry/api';
import type { Context, Next } from 'koa';
import { DraasError, errorTable, type ErrorCode } from '../errors.js';

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  [member: string]: unknown;
}

export function problemType(code: string): string {
  return `urn:draas:problem:${code}`;
}

/** Errors thrown by Koa and its middleware carry `status` and `expose`. */
function httpErrorOf(error: unknown): { status: number; message: string; expose: boolean } | undefined {
  if (typeof error !== 'object' || error === null || !('status' in error)) return undefined;
  const status = Number(error.status);
  if (!Number.isInteger(status) || status < 400 || status > 599) return undefined;
  const expose = 'expose' in error && error.expose === true;
  const message = 'message' in error && typeof error.message === 'string' ? error.message : '';
  return { status, message, expose };
}

/** The code of an error Koa or its middleware threw, by its status. */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'bad-request';
    case 404:
      return 'not-found';
    case 405:
      return 'method-not-allowed';
    case 413:
      return 'payload-too-large';
    case 415:
      return 'unsupported-media-type';
    default:
      return status >= 500 ? 'internal' : 'bad-request';
  }
}

/** Writes a problem+json answer; its `type` and `title` come from the error table. */
export function sendProblem(ctx: Context, code: ErrorCode, status: number, detail: string, extra: Record<string, unknown> = {}): void {
  // The request's id (request-telemetry.ts), so a caller can quote it and an operator find the log line.
  const requestId: unknown = (ctx.state as { requestId?: unknown }).requestId;
  const body: ProblemDocument = {
    ...extra,
    type: problemType(code),
    title: errorTable[code].title,
    status,
    detail,
    instance: ctx.path,
    ...(typeof requestId === 'string' ? { requestId } : {}),
  };
  ctx.status = status;
  ctx.type = 'application/problem+json';
  ctx.body = body;
}

/**
 * An error that knows when a retry may succeed (a `retryAfterSeconds`
 * detail, e.g. a `not-owner` during a takeover) tells the client in
 * `Retry-After`, in whole seconds (RFC 9110), at least 1.
 */
function retryAfterOf(details: Record<string, unknown>): number | undefined {
  const seconds = details.retryAfterSeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? Math.max(1, Math.ceil(seconds)) : undefined;
}

export function problemMiddleware(log: (message: string) => void) {
  return async function problems(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.body === undefined && ctx.status === 404) {
        sendProblem(ctx, 'not-found', 404, `no route for ${ctx.method} ${ctx.path}`);
      } else if (ctx.body === undefined && ctx.status === 405) {
        sendProblem(ctx, 'method-not-allowed', 405, `${ctx.method} is not allowed on ${ctx.path}`);
      }
    } catch (error) {
      if (error instanceof DraasError) {
        const retryAfter = retryAfterOf(error.details);
        if (retryAfter !== undefined) ctx.set('Retry-After', String(retryAfter));
        sendProblem(ctx, error.code, error.status, error.message, error.details);
        return;
      }
      const http = httpErrorOf(error);
      if (http && http.status < 500) {
        sendProblem(ctx, codeForStatus(http.status), http.status, http.expose ? http.message : errorTable[codeForStatus(http.status)].title);
        return;
      }
      trace.getActiveSpan()?.recordException(error instanceof Error ? error : String(error));
      log(`unhandled error on ${ctx.method} ${ctx.path}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      sendProblem(ctx, 'internal', 500, 'internal error; see the control plane log');
    }
  };
}
