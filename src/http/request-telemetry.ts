/**
 * The first middleware: gives each request an id, a server span and one
 * access log line.
 *
 * - **Request id**: a sane incoming `X-Request-Id` (letters, digits and
 *   `._:-`, at most 128) is kept, else one is made; it is echoed in the
 *   response's `X-Request-Id` and in problem+json bodies (`requestId`).
 * - **Span**: `SERVER`, named `METHOD /route/:path` once the router matched
 *   (`METHOD` alone otherwise), a child of the incoming W3C `traceparent`
 *   (through the registered propagator), with the standard `http.*`
 *   attributes; a 5xx marks it failed.
 * - **Access log**: at info, after the response: method, path, operation id,
 *   status, duration, request id, trace id. Never headers or bodies.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context, Next } from 'koa';
import type { Logger } from '../observability/logger.js';
import { SpanKind, tracer } from '../observability/tracing.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** What handlers and later middleware find in `ctx.state`. */
export interface RequestTelemetryState {
  requestId: string;
  /** The logger of this request (with its request id and trace id). */
  log: Logger;
}

function requestIdOf(header: string | undefined): string {
  return header !== undefined && REQUEST_ID.test(header) ? header : randomUUID();
}

/** `accessLog`: whether each request gets its info line (off for a library user who passed a plain function). */
export function requestTelemetry(logger: Logger, options: { accessLog: boolean }) {
  return async function telemetry(ctx: Context, next: Next): Promise<void> {
    const began = performance.now();
    const requestId = requestIdOf(ctx.get('X-Request-Id') || undefined);
    ctx.set('X-Request-Id', requestId);
    const parent = propagation.extract(context.active(), ctx.headers);
    const span = tracer().startSpan(
      ctx.method,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': ctx.method, 'url.path': ctx.path, 'url.scheme': ctx.protocol, 'draas.request_id': requestId },
      },
      parent,
    );
    const spanContext = span.spanContext();
    const traceId = trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
    const state = ctx.state as Partial<RequestTelemetryState>;
    state.requestId = requestId;
    state.log = logger.child({ requestId, ...(traceId ? { traceId } : {}) });
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const route = typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : undefined;
      const operation = ctx._matchedRouteName;
      const status = ctx.status;
      if (route) {
        span.updateName(`${ctx.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      if (operation) span.setAttribute('draas.operation', operation);
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      if (options.accessLog) {
        state.log.info(`${ctx.method} ${ctx.path} ${status}`, {
          method: ctx.method,
          path: ctx.path,
          ...(operation ? { operation } : {}),
          status,
          durationMs: Math.round((performance.now() - began) * 10) / 10,
        });
      }
    }
  };
}
