/**
 * Spans, through the OpenTelemetry API only. With no SDK registered (the
 * default: `draas` starts one only when the standard `OTEL_*` variables ask,
 * see `trace-sdk.ts`; a library user registers their own provider) every
 * span is a non-recording no-op, so tracing costs next to nothing when off.
 *
 * Trace context crosses the transport inside every envelope (`trace.traceparent`,
 * W3C): `currentTraceContext` writes the active span into it, `contextOf`
 * reads it back on the other side. Written and read here directly (not by a
 * registered propagator): the envelope field is W3C by contract, whatever
 * propagators the process configured for HTTP.
 */
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { packageVersion } from '../package-version.js';
import type { TraceContext } from '../transport/envelope.js';

export { SpanKind };

let cached: Tracer | undefined;

/** The tracer of draas (a proxy: it follows a provider registered later). */
export function tracer(): Tracer {
  return (cached ??= trace.getTracer('draas', packageVersion()));
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The active span's context as a W3C `traceparent`, or undefined when no valid span is active. */
export function currentTraceContext(active: Context = context.active()): TraceContext | undefined {
  const span = trace.getSpanContext(active);
  if (!span || !trace.isSpanContextValid(span)) return undefined;
  return { traceparent: `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}` };
}

/** A context whose (remote) parent is the envelope's trace context; the root context when it is malformed. */
export function contextOf(carried: TraceContext | undefined, base: Context = ROOT_CONTEXT): Context {
  const match = carried ? TRACEPARENT.exec(carried.traceparent) : null;
  if (!match) return base;
  const spanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16), isRemote: true };
  return trace.isSpanContextValid(spanContext) ? trace.setSpanContext(base, spanContext) : base;
}

/** The trace and span ids of the active span, for log lines (nothing when none records). */
export function traceFields(active: Context = context.active()): { traceId?: string; spanId?: string } {
  const span = trace.getSpanContext(active);
  if (!span || !trace.isSpanContextValid(span)) return {};
  return { traceId: span.traceId, spanId: span.spanId };
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; default the active context. */
  parent?: Context;
}

/**
 * Runs `work` inside a new active span that ends when it settles; a rejection
 * is recorded on the span (status ERROR, the exception as an event) and
 * passed on.
 */
export function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) }, parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await work(span);
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed by `error`. */
function recordFailure(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
