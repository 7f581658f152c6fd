/**
 * Schemas of what crosses the transport between control plane and workers:
 * command payloads (checked by the worker before its driver sees them) and
 * worker events (checked by the control plane before they become actor
 * events). A message that fails its schema is refused, never cast.
 */
import { z } from 'zod';
import { platformTypes } from '../platforms/driver.js';
import type { WorkloadCommands, WorkloadCommandType, WorkloadEvents } from './workload-commands.js';

const record = z.record(z.string(), z.unknown());

export const workloadRefSchema = z.object({
  instanceId: z.string(),
  platform: z.enum(platformTypes as unknown as ['process', 'docker', 'kubernetes']),
  workloadId: z.string(),
  port: z.number().int(),
  generation: z.number().int(),
  startedAt: z.string(),
  workerId: z.string().optional(),
  identity: z.string().optional(),
});

const workloadExitSchema = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  lastLogLines: z.array(z.string()),
  requested: z.boolean(),
  details: record.optional(),
});

const stopPayload = z.object({ graceMs: z.number().min(0) });

/** One schema per command type: adding a type without one fails to compile. */
export const workloadCommandPayloadSchemas: { [K in WorkloadCommandType]: z.ZodType<WorkloadCommands[K]['payload']> } = {
  'workload.start': z.object({
    instanceId: z.string(),
    generation: z.number().int(),
    config: record,
    preferredPort: z.number().int().min(1).max(65535).optional(),
    env: z.record(z.string(), z.string()),
    startTimeoutMs: z.number().positive(),
    platformOptions: record.optional(),
    replaces: workloadRefSchema.optional(),
  }),
  'workload.stop': stopPayload,
  'workload.remove': stopPayload,
  'workload.inspect': z.object({}).strict() as unknown as z.ZodType<Record<string, never>>,
  'workload.logs': z.object({ tail: z.number().int().min(0), after: z.string().nullable().optional() }),
  'workload.list': z.object({}).strict() as unknown as z.ZodType<Record<string, never>>,
  'workload.components': z.object({ full: z.boolean() }),
  'workload.apply': z.object({
    calls: z
      .array(
        z.object({
          method: z.enum(['POST', 'PUT', 'DELETE']),
          // Only the component API of the server's own instance: a worker is no general HTTP client.
          path: z.string().regex(/^\/api\/v1\/(?:instances\/[^/?#]+\/)?(?:sources|queries|reactions)(?:\/[^/?#]+(?:\/(?:start|stop))?)?$/),
          body: z.unknown().optional(),
          component: z.object({ kind: z.enum(['source', 'query', 'reaction']), id: z.string() }),
          why: z.string(),
        }),
      )
      .max(10_000),
  }) as unknown as z.ZodType<WorkloadCommands['workload.apply']['payload']>,
};

/** Events the control plane acts on; others (health, progress) are only shown. */
export const workloadEventSchemas = {
  'workload.exited': z.object({ ref: workloadRefSchema, exit: workloadExitSchema, workerId: z.string() }),
  'workload.adopted': z.object({ ref: workloadRefSchema, workerId: z.string() }),
  'worker.withdrawn': z.object({ workerId: z.string(), platform: z.string() }),
} satisfies { [K in keyof WorkloadEvents]?: z.ZodType<WorkloadEvents[K]> };

export type CheckedWorkloadEventType = keyof typeof workloadEventSchemas;

/** The event's payload when it is one the control plane acts on and well-formed; undefined otherwise. */
export function parseWorkloadEvent<K extends CheckedWorkloadEventType>(type: K, payload: unknown): WorkloadEvents[K] | undefined {
  const parsed = workloadEventSchemas[type].safeParse(payload);
  return parsed.success ? (parsed.data as WorkloadEvents[K]) : undefined;
}
