/**
 * The cursors of `PlatformDriver.readLogs` and the marker lines a read puts
 * where it cannot deliver lines or where a new workload begins. Pure. A
 * cursor is opaque above the drivers: base64url of a small JSON document,
 * validated here when it comes back.
 */
import { z } from 'zod';

const processCursorSchema = z.object({
  kind: z.literal('process'),
  /** The driver that made it: rotation counts and offsets mean nothing to another one. */
  driver: z.string(),
  /** The workload writing the log when the cursor was made (`none` when none was known). */
  writer: z.string(),
  /** Rotations of that writer's log before `offset`. */
  rotations: z.number().int().min(0),
  /** Byte offset in the live log file. */
  offset: z.number().int().min(0),
});

const dockerCursorSchema = z.object({
  kind: z.literal('docker'),
  /** The container read last; null when there was none. */
  container: z.string().nullable(),
  /** Timestamp (RFC 3339, nanoseconds) of the last line read; null when none was. */
  timestamp: z.string().nullable(),
  /** How many lines with exactly that timestamp were read. */
  count: z.number().int().min(0),
});

const kubernetesCursorSchema = z.object({
  kind: z.literal('kubernetes'),
  /** The pod read last (its uid: a pod of the same name later is another pod); null when there was none. */
  pod: z.string().nullable(),
  /** Its name, to read the rest of its log. */
  podName: z.string().nullable(),
  /** The container's restart count then: a higher one now means the rest is in the previous container's log. */
  restarts: z.number().int().min(0),
  /** Timestamp (RFC 3339, nanoseconds) of the last line read; null when none was. */
  timestamp: z.string().nullable(),
  /** How many lines with exactly that timestamp were read. */
  count: z.number().int().min(0),
});

/** The test double's (test/fixtures/memory-driver.ts): a line index in the instance's log, and how many workloads had started by then. */
const memoryCursorSchema = z.object({ kind: z.literal('memory'), index: z.number().int().min(0), workloads: z.number().int().min(0) });

const logCursorSchema = z.discriminatedUnion('kind', [processCursorSchema, dockerCursorSchema, kubernetesCursorSchema, memoryCursorSchema]);

export type LogCursor = z.infer<typeof logCursorSchema>;
export type ProcessLogCursor = z.infer<typeof processCursorSchema>;
export type DockerLogCursor = z.infer<typeof dockerCursorSchema>;
export type KubernetesLogCursor = z.infer<typeof kubernetesCursorSchema>;

export function encodeLogCursor(cursor: LogCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** The cursor, or undefined when `text` is not one of ours (or not of `kind`). */
export function decodeLogCursor<K extends LogCursor['kind']>(text: string, kind: K): Extract<LogCursor, { kind: K }> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = logCursorSchema.safeParse(value);
  return parsed.success && parsed.data.kind === kind ? (parsed.data as Extract<LogCursor, { kind: K }>) : undefined;
}

/** Lines that could not be delivered. `bytes` when the driver knows how much. */
export function skippedMarker(why: string, bytes?: number): string {
  return bytes === undefined ? `… lines skipped (${why})` : `… ${bytes} bytes skipped (${why})`;
}

export function workloadStartedMarker(workload?: { workloadId: string; generation: number }): string {
  return workload ? `— new workload ${workload.workloadId} (generation ${workload.generation}) started —` : '— new workload started —';
}

export const positionLostMarker = '… log position lost (the worker restarted); continuing at the end of the log';
