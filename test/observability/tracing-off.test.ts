/**
 * With no OpenTelemetry SDK registered (the default), the spans in the code
 * paths are non-recording no-ops: nothing is recorded, no context is kept,
 * and envelopes still carry a fresh, valid W3C trace context. (This file
 * registers no provider; ava runs each test file in its own process.)
 */
import test from 'ava';
import { trace } from '@opentelemetry/api';
import { contextOf, currentTraceContext, inSpan, tracer } from '../../src/observability/tracing.js';
import { newCommand } from '../../src/transport/envelope.js';
import { serve } from '../helpers/memory-api.js';

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/;

test('spans are non-recording and invalid; nothing becomes active', async (t) => {
  const span = tracer().startSpan('x');
  t.false(span.isRecording());
  t.false(trace.isSpanContextValid(span.spanContext()));
  span.end();
  await inSpan('y', {}, async (inner) => {
    t.false(inner.isRecording());
    t.is(trace.getActiveSpan(), undefined, 'no context manager: nothing is carried');
    t.is(currentTraceContext(), undefined);
    t.regex(newCommand('workload.inspect', 'a', {}).trace.traceparent, TRACEPARENT, 'an envelope still gets a fresh trace context');
  });
});

test('a failure inside a non-recording span still rejects with the same error', async (t) => {
  const error = new Error('boom');
  await t.throwsAsync(inSpan('z', {}, () => Promise.reject(error)), { is: error });
});

test('the envelope trace context is read back as a remote parent; a malformed one is ignored', (t) => {
  const parent = contextOf({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  t.like(trace.getSpanContext(parent), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
  t.is(currentTraceContext(parent)?.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  for (const traceparent of ['', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x']) {
    t.is(trace.getSpanContext(contextOf({ traceparent })), undefined, traceparent);
  }
});

test('over HTTP with tracing off: the request works, its id is echoed, an incoming traceparent does no harm', async (t) => {
  const { call } = await serve(t);
  t.is((await call('POST', '/api/server/instances', { name: 'quiet' })).status, 201);
  const started = await call('POST', '/api/server/instances/quiet/start', undefined, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-request-id': 'r-1' });
  t.is(started.status, 200);
  t.is(started.headers.get('x-request-id'), 'r-1');
});
