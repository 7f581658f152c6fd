/**
 * How envelopes are written into and read back from Redis stream entries.
 * Every reply Redis sends is `unknown` here and validated before it becomes a
 * command, reply or event: a malformed entry is reported, never trusted.
 *
 * Envelopes travel as JSON, so results and payloads must be JSON values
 * (the memory transport's `structuredClone` is more lenient: Dates, Maps).
 */
import { isErrorCode } from '../errors.js';
import type { CommandEnvelope, EventEnvelope, ReplyEnvelope, SerializedError } from './envelope.js';

export interface StreamEntry {
  id: string;
  fields: Map<string, string>;
}

/** One pending entry, as XPENDING's extended form reports it. */
export interface PendingEntry {
  id: string;
  consumer: string;
  idleMs: number;
  deliveries: number;
}

/** A command as it sits in a queue's stream. */
export interface QueuedCommand {
  command: CommandEnvelope;
  requestId: string;
  /** The reply stream key of the requester. */
  replyTo: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function hasEnvelopeBasics(value: Record<string, unknown>): boolean {
  return (
    typeof value.type === 'string' &&
    typeof value.instanceId === 'string' &&
    typeof value.timestamp === 'string' &&
    isRecord(value.trace) &&
    typeof value.trace.traceparent === 'string' &&
    'payload' in value
  );
}

export function isCommandEnvelope(value: unknown): value is CommandEnvelope {
  return isRecord(value) && hasEnvelopeBasics(value) && typeof value.commandId === 'string';
}

export function isEventEnvelope(value: unknown): value is EventEnvelope {
  return isRecord(value) && hasEnvelopeBasics(value) && typeof value.eventId === 'string';
}

function isSerializedError(value: unknown): value is SerializedError {
  return (
    isRecord(value) &&
    // The codes of the one error table; a code it lacks is not ours.
    isErrorCode(value.code) &&
    typeof value.message === 'string' &&
    isRecord(value.details)
  );
}

export function isReplyEnvelope(value: unknown): value is ReplyEnvelope {
  if (!isRecord(value) || typeof value.commandId !== 'string') return false;
  // JSON drops an `undefined` result: a missing `result` means undefined.
  if (value.ok === true) return true;
  return value.ok === false && isSerializedError(value.error);
}

/** One entry: `[id, [field, value, …]]`, or null for an entry deleted meanwhile. */
export function parseEntry(raw: unknown): StreamEntry | undefined {
  if (!Array.isArray(raw) || raw.length < 2) return undefined;
  const id = asText(raw[0]);
  const list: unknown = raw[1];
  if (id === undefined || !Array.isArray(list)) return undefined;
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = asText(list[i]);
    const value = asText(list[i + 1]);
    if (name !== undefined && value !== undefined) fields.set(name, value);
  }
  return { id, fields };
}

/** A list of entries (XRANGE, XCLAIM); deleted ones are skipped. */
export function parseEntries(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  const entries: StreamEntry[] = [];
  for (const item of raw) {
    const entry = parseEntry(item);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** An XREAD/XREADGROUP reply for one stream: `[[key, entries]]` or null (timed out). */
export function parseReadReply(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  const entries: StreamEntry[] = [];
  for (const stream of raw) {
    if (Array.isArray(stream) && stream.length >= 2) entries.push(...parseEntries(stream[1]));
  }
  return entries;
}

/** XPENDING's extended form: `[[id, consumer, idle, deliveries], …]`. */
export function parsePending(raw: unknown): PendingEntry[] {
  if (!Array.isArray(raw)) return [];
  const result: PendingEntry[] = [];
  for (const row of raw) {
    if (!Array.isArray(row) || row.length < 4) continue;
    const id = asText(row[0]);
    const consumer = asText(row[1]);
    const idleMs = Number(row[2]);
    const deliveries = Number(row[3]);
    if (id === undefined || consumer === undefined || !Number.isFinite(idleMs) || !Number.isFinite(deliveries)) continue;
    result.push({ id, consumer, idleMs, deliveries });
  }
  return result;
}

export function encodeCommand(queued: QueuedCommand): string[] {
  return ['requestId', queued.requestId, 'replyTo', queued.replyTo, 'command', JSON.stringify(queued.command)];
}

/** The command of an entry; `undefined` when the entry is malformed. Partial facts help a dead-letter reply. */
export function decodeCommand(entry: StreamEntry): { queued?: QueuedCommand; requestId?: string; replyTo?: string } {
  const requestId = entry.fields.get('requestId');
  const replyTo = entry.fields.get('replyTo');
  const command = parseJson(entry.fields.get('command'));
  if (requestId === undefined || replyTo === undefined || !isCommandEnvelope(command)) return { requestId, replyTo };
  return { queued: { command, requestId, replyTo }, requestId, replyTo };
}

/** The `reply` field of a reply entry (see `encodeReply`). */
export function serializeReply(reply: ReplyEnvelope): string {
  return JSON.stringify(reply);
}

export function encodeReply(requestId: string, reply: ReplyEnvelope): string[] {
  return ['requestId', requestId, 'reply', serializeReply(reply)];
}

export function decodeReply(entry: StreamEntry): { requestId: string; reply: ReplyEnvelope } | undefined {
  const requestId = entry.fields.get('requestId');
  const reply = parseJson(entry.fields.get('reply'));
  if (requestId === undefined || !isReplyEnvelope(reply)) return undefined;
  return { requestId, reply };
}

export function encodeEvent(event: EventEnvelope): string[] {
  return ['event', JSON.stringify(event)];
}

export function decodeEvent(entry: StreamEntry): EventEnvelope | undefined {
  const event = parseJson(entry.fields.get('event'));
  return isEventEnvelope(event) ? event : undefined;
}
