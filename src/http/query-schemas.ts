/**
 * The query parameters of the REST API's operations, validated by the routes
 * and described by the OpenAPI document (`openapi.ts`) from these same schemas.
 */
import { z } from 'zod';
import { instanceIdSchema } from '../api/instance-requests.js';
import { machineFormats } from '../machines/machine-document.js';
import { eventTypes, type EventType } from './event-stream.js';

/** The opaque cursor of a paged list (see `page-cursor.ts`). */
const cursorSchema = z.string().min(1).max(200).meta({ description: "Where the page starts: the previous page's `Next-Cursor` (also in its `Link: rel=\"next\"`), unchanged" });

export const listInstancesQuerySchema = z
  .object({
    /** Without a limit, every instance (the original API's answer). */
    limit: z.coerce.number().int().min(1).max(1_000).optional().meta({ description: 'At most this many instances, in id order; without it, all of them' }),
    cursor: cursorSchema.optional(),
  })
  .strict();

export const logsQuerySchema = z
  .object({
    tail: z.coerce.number().int().min(0).max(10_000).optional(),
    follow: z.enum(['true', 'false']).optional(),
  })
  .strict()
  // Only a follow has a use for no old lines at all.
  .refine((query) => query.follow === 'true' || query.tail !== 0, { message: 'tail must be at least 1 unless follow=true', path: ['tail'] });

export const recentChangesQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(1_000).optional(),
    after: z.coerce.number().int().min(0).optional().meta({ description: 'Only changes with a greater sequence (kept for compatibility; `cursor` is the same, opaque)' }),
    cursor: cursorSchema.optional(),
    instanceId: z.string().optional(),
  })
  .strict()
  .refine((query) => query.after === undefined || query.cursor === undefined, { message: 'give after or cursor, not both', path: ['cursor'] });

/** `type=status-changed,heartbeat`: the event types a client wants, each once, each one we send. */
const eventTypesSchema = z
  .string()
  .transform((value, ctx): EventType[] => {
    const names = value.split(',').map((name) => name.trim());
    const unknown = names.filter((name) => !(eventTypes as readonly string[]).includes(name));
    if (unknown.length > 0) {
      const what = unknown.every((name) => name === '') ? 'an empty type' : `unknown type ${unknown.filter((name) => name !== '').map((name) => JSON.stringify(name)).join(', ')}`;
      ctx.addIssue({ code: 'custom', message: `${what}; the types are ${eventTypes.join(', ')} (comma-separated)` });
      return z.NEVER;
    }
    return [...new Set(names as EventType[])];
  })
  .meta({ description: `Comma-separated event types: ${eventTypes.join(', ')} (default status-changed)` });

export const eventsQuerySchema = z
  .object({
    instanceId: instanceIdSchema.optional(),
    /** The event types wanted (default `status-changed`); `reset` and `overflow` always come. */
    type: eventTypesSchema.optional(),
    /** Resume after this event id (what `Last-Event-ID` carries on a reconnect; the header wins). */
    lastEventId: z.coerce.number().int().min(0).optional(),
  })
  .strict();

/** `GET /api/audit`: the newest `limit`, or `limit` after the cursor `after` (an earlier page's `next`). */
export const auditQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(1_000).optional(),
    after: z.string().min(1).max(64).optional(),
  })
  .strict();

export const machineQuerySchema = z.object({ format: z.enum(machineFormats).optional() }).strict();

