/**
 * Message envelopes. Every command and event names its `type` (handlers
 * dispatch on it, one handler per type), carries a stable id (commands are
 * de-duplicated on `commandId`), the instance it concerns, a timestamp and a
 * W3C trace context.
 */
import { randomUUID } from 'node:crypto';
import { DraasError, type ErrorCode } from '../errors.js';
import { currentTraceContext } from '../observability/tracing.js';

export interface TraceContext {
  /** W3C `traceparent`: version-traceid-parentid-flags. */
  traceparent: string;
}

export interface CommandEnvelope<TType extends string = string, TPayload = unknown> {
  type: TType;
  commandId: string;
  instanceId: string;
  /** ISO 8601. */
  timestamp: string;
  trace: TraceContext;
  payload: TPayload;
}

export interface EventEnvelope<TType extends string = string, TPayload = unknown> {
  type: TType;
  eventId: string;
  instanceId: string;
  timestamp: string;
  trace: TraceContext;
  payload: TPayload;
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

export type ReplyEnvelope =
  | { commandId: string; ok: true; result: unknown }
  | { commandId: string; ok: false; error: SerializedError };

function randomHex(bytes: number): string {
  return randomUUID().replaceAll('-', '').slice(0, bytes * 2);
}

/**
 * A fresh trace context (a child of `parent` when given). Envelopes made while
 * a span is active carry that span instead (see `currentTraceContext`), so a
 * trace follows a command across the transport.
 */
export function newTraceContext(parent?: TraceContext): TraceContext {
  const traceId = parent?.traceparent.split('-')[1] ?? randomUUID().replaceAll('-', '');
  return { traceparent: `00-${traceId}-${randomHex(8)}-01` };
}

export function newCommand<TType extends string, TPayload>(
  type: TType,
  instanceId: string,
  payload: TPayload,
  options: { commandId?: string; trace?: TraceContext; now?: number } = {},
): CommandEnvelope<TType, TPayload> {
  return {
    type,
    commandId: options.commandId ?? randomUUID(),
    instanceId,
    timestamp: new Date(options.now ?? Date.now()).toISOString(),
    trace: options.trace ?? currentTraceContext() ?? newTraceContext(),
    payload,
  };
}

export function newEvent<TType extends string, TPayload>(
  type: TType,
  instanceId: string,
  payload: TPayload,
  options: { trace?: TraceContext; now?: number } = {},
): EventEnvelope<TType, TPayload> {
  return {
    type,
    eventId: randomUUID(),
    instanceId,
    timestamp: new Date(options.now ?? Date.now()).toISOString(),
    trace: options.trace ?? currentTraceContext() ?? newTraceContext(),
    payload,
  };
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof DraasError) return { code: error.code, message: error.message, details: error.details };
  return { code: 'worker-error', message: error instanceof Error ? error.message : String(error), details: {} };
}

export function deserializeError(error: SerializedError): DraasError {
  return new DraasError(error.code, error.message, error.details);
}
