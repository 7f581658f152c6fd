/**
 * The shapes of the REST API's answers, as zod schemas: the OpenAPI document
 * (`openapi.ts`) is generated from them, and a test checks every answer the
 * API gives against that document. The TypeScript types stay where they are
 * (`instance-view.ts`, `reconciler.ts`, …); the `satisfies`-style checks at
 * the end of this file keep each schema and its type from drifting apart.
 */
import { z } from 'zod';
import type { InstanceStatusView, InstanceView } from '../api/instance-view.js';
import type { DriftComparison } from '../actors/reconciler.js';
import type { OwnershipView } from '../actors/ownership.js';
import type { StatusChange } from '../store/instance-store.js';
import type { WorkerPresence } from '../transport/transport.js';
import { instanceStatuses, observedStates, updateStrategies } from '../machines/instance-types.js';
import { platformTypes } from '../platforms/driver.js';

const isoTime = z.string().meta({ description: 'ISO 8601 time' });
const status = z.enum(instanceStatuses);
const desiredState = z.string().meta({ description: 'What was asked for: Running, Stopped or Deleted' });
const observedState = z.string().meta({ description: `What the platform reported: ${observedStates.join(', ')}` });

export const failureSchema = z
  .object({
    reason: z.string(),
    at: isoTime,
    reportedBy: z.object({ source: z.string(), remoteAddress: z.string().optional() }).strict().optional(),
    exitCode: z.number().int().nullable().optional(),
    signal: z.string().nullable().optional(),
    lastLogLines: z.array(z.string()).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .meta({ id: 'Failure' });

export const historyEntrySchema = z
  .object({ at: isoTime, from: status.nullable(), to: status, cause: z.string(), reason: z.string().optional() })
  .strict()
  .meta({ id: 'HistoryEntry' });

export const conditionSchema = z
  .object({
    type: z.enum(['Ready', 'ConfigApplied', 'Drifted', 'CrashLooping', 'WorkerLost']),
    status: z.enum(['True', 'False', 'Unknown']),
    reason: z.string(),
    message: z.string(),
    since: isoTime.optional(),
    generation: z.number().int().optional(),
    observedGeneration: z.number().int().nullable().optional(),
    differences: z.array(z.string()).optional(),
    failures: z.number().int().optional(),
    nextRetryAt: isoTime.nullable().optional(),
    workerId: z.string().optional(),
  })
  .strict()
  .meta({ id: 'InstanceCondition' });

export const instanceViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    platformType: z.enum(platformTypes as [string, ...string[]]),
    status,
    desiredState,
    observedState,
    generation: z.number().int().min(1),
    observedGeneration: z.number().int().nullable(),
    serverConfiguration: z
      .object({ host: z.string(), port: z.number().int().optional(), logLevel: z.string().optional() })
      .strict(),
    platformOptions: z.record(z.string(), z.unknown()),
    updateStrategy: z.enum(updateStrategies),
    runtime: z
      .object({ workloadId: z.string(), port: z.number().int(), url: z.string(), startedAt: isoTime, generation: z.number().int() })
      .strict()
      .nullable(),
    workerId: z.string().nullable(),
    conditions: z.array(conditionSchema),
    failure: failureSchema.nullable(),
    nextRetryAt: isoTime.nullable(),
    restartCount: z.number().int().min(0),
    lastTransition: historyEntrySchema.nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .strict()
  .meta({ id: 'Instance' });

export const instanceListSchema = z.array(instanceViewSchema).meta({ id: 'InstanceList' });

export const statusViewSchema = z
  .object({
    instanceId: z.string(),
    status,
    desiredState,
    observedState,
    generation: z.number().int(),
    observedGeneration: z.number().int().nullable(),
    conditions: z.array(conditionSchema),
    failure: failureSchema.nullable(),
    history: z.array(historyEntrySchema),
  })
  .strict()
  .meta({ id: 'InstanceStatus' });

export const configViewSchema = z
  .object({
    instanceId: z.string(),
    generation: z.number().int().min(1),
    configuration: z.record(z.string(), z.unknown()).meta({ description: "The Drasi Server configuration (its own camelCase keys)" }),
  })
  .strict()
  .meta({ id: 'InstanceConfiguration' });

const componentRef = z.object({ kind: z.string(), id: z.string() }).strict();

export const differenceSchema = z
  .object({
    type: z.enum(['missing', 'extra', 'state', 'error', 'config']),
    component: componentRef,
    message: z.string(),
    status: z.string().optional(),
    expected: z.enum(['running', 'stopped']).optional(),
    error: z.string().optional(),
    keys: z.array(z.string()).optional(),
    desired: z.unknown().optional(),
    observed: z.unknown().optional(),
  })
  .strict()
  .meta({ id: 'Difference' });

export const driftSchema = z
  .object({
    instanceId: z.string(),
    checkedAt: isoTime.optional().meta({ description: 'Absent while not-checked' }),
    status: status.optional(),
    outcome: z.enum(['in-sync', 'drifted', 'workload-gone', 'unwanted-workload', 'not-running', 'not-comparable', 'not-checked']),
    generation: z.number().int().optional(),
    differences: z.array(differenceSchema),
    repair: z.array(z.string()),
    reason: z.string().optional(),
  })
  .strict()
  .meta({ id: 'DriftComparison' });

export const statusChangeSchema = z
  .object({
    sequence: z.number().int().min(1),
    instanceId: z.string(),
    from: status.nullable(),
    to: status,
    cause: z.string(),
    reason: z.string().optional(),
    desired: z.string(),
    observed: z.string(),
    generation: z.number().int(),
    observedGeneration: z.number().int().nullable().optional(),
    at: isoTime,
  })
  .strict()
  .meta({ id: 'StatusChange' });

export const recentChangesSchema = z.array(statusChangeSchema).meta({ id: 'StatusChangeList' });

export const logsSchema = z.object({ instanceId: z.string(), lines: z.array(z.string()) }).strict().meta({ id: 'LogLines' });

const circuitStateSchema = z
  .object({
    name: z.string().meta({ description: 'What it guards: `worker <id>`, `docker-engine`, `kubernetes-api`' }),
    status: z.enum(['closed', 'open', 'half-open']),
    consecutiveFailures: z.number().int().min(0),
    openedAt: isoTime.nullable(),
    nextProbeAt: isoTime.nullable().meta({ description: 'When the next probe may go (while open)' }),
    lastError: z.string().nullable(),
    lastFailureAt: isoTime.nullable(),
  })
  .strict()
  .meta({ id: 'CircuitState', description: 'A circuit breaker (see docs/operations.md, "Retries and circuit breakers")' });

const workerPresenceSchema = z
  .object({
    workerId: z.string(),
    platform: z.string(),
    available: z.boolean(),
    lastSeen: isoTime,
    details: z.record(z.string(), z.unknown()).meta({ description: 'What the worker announces: pid, workloads, unavailableReason, circuits (its engine breakers)' }),
    circuit: circuitStateSchema.extend({ workerId: z.string() }).strict().optional().meta({ description: "The control plane's breaker toward this worker, once it sent it commands" }),
  })
  .strict()
  .meta({ id: 'WorkerPresence' });

export const platformsSchema = z
  .object({
    platforms: z.array(
      z
        .object({
          platform: z.enum(platformTypes as [string, ...string[]]),
          available: z.boolean(),
          reason: z.string().optional().meta({ description: 'Why it takes no commands (when not available)' }),
          workers: z.array(workerPresenceSchema),
          circuits: z
            .array(circuitStateSchema.extend({ kind: z.enum(['worker', 'engine']), workerId: z.string() }).strict())
            .meta({ description: "The control plane's breakers toward the live workers (kind worker) and the workers' toward their engines (kind engine)" }),
        })
        .strict(),
    ),
  })
  .strict()
  .meta({ id: 'Platforms' });

export const replicasSchema = z
  .object({
    replicaId: z.string(),
    shardCount: z.number().int().min(1),
    replicas: z.array(z.object({ replicaId: z.string(), alive: z.boolean(), shards: z.array(z.number().int()) }).strict()),
    unowned: z.array(z.number().int()),
  })
  .strict()
  .meta({ id: 'Replicas' });

/** `GET /api/audit` (see src/auth/audit.ts): entries are passed through as stored, so they are described, not closed. */
export const auditPageSchema = z
  .object({
    entries: z.array(
      z
        .looseObject({
          id: z.string(),
          time: z.string(),
          actor: z.looseObject({ kind: z.enum(['token', 'oidc', 'anonymous']) }),
          role: z.enum(['viewer', 'operator', 'admin']).optional(),
          operation: z.string(),
          method: z.string(),
          path: z.string(),
          instanceId: z.string().optional(),
          requestId: z.string().optional(),
          remoteAddress: z.string().optional(),
          status: z.number().int(),
          problem: z.string().optional(),
          durationMs: z.number(),
        })
        .meta({ id: 'AuditEntry' }),
    ),
    next: z.string().optional(),
  })
  .strict()
  .meta({ id: 'AuditPage' });

export const machineListSchema = z
  .object({ machines: z.array(z.object({ id: z.string(), href: z.string() }).strict()) })
  .strict()
  .meta({ id: 'MachineList' });

export const machineDocumentSchema = z
  .object({ id: z.string() })
  .loose()
  .meta({ id: 'MachineDocument', description: 'The machine as data: states, transitions and a layout to draw (see `draas machine`)' });

export const healthSchema = z.object({ status: z.enum(['ok']) }).strict().meta({ id: 'Health' });
export const readinessSchema = z.object({ status: z.enum(['ready', 'not ready']) }).strict().meta({ id: 'Readiness' });

/** RFC 9457; `type` is `urn:draas:problem:<code>`. Members beyond the five are the error's details. */
export const problemSchema = z
  .object({
    type: z.string().regex(/^urn:draas:problem:[a-z-]+$/).meta({ description: 'urn:draas:problem:<code>: stable, what a client dispatches on' }),
    title: z.string().meta({ description: 'The same for every problem of this type' }),
    status: z.number().int().min(400).max(599),
    detail: z.string().meta({ description: 'What went wrong this time, for a person' }),
    instance: z.string().meta({ description: 'The request path' }),
    issues: z.array(z.object({ path: z.string(), message: z.string() }).loose()).optional().meta({ description: 'Each problem of the input (400, 422)' }),
    reason: z.string().optional().meta({ description: 'A finer code for some problems (e.g. bad-cursor, bad-idempotency-key)' }),
    state: z.string().optional().meta({ description: "The instance's state, when the request is not allowed in it (409)" }),
    retryAfterSeconds: z.number().optional(),
  })
  .loose()
  .meta({ id: 'Problem' });

// Compile-time checks: each TypeScript type is accepted by its schema's inferred type.
type Accepts<Schema, Type extends Schema> = Type;
export type SchemaChecks = [
  Accepts<z.infer<typeof instanceViewSchema>, InstanceView>,
  Accepts<z.infer<typeof statusViewSchema>, InstanceStatusView>,
  Accepts<z.infer<typeof driftSchema>, DriftComparison>,
  Accepts<z.infer<typeof statusChangeSchema>, StatusChange>,
  Accepts<z.infer<typeof replicasSchema>, OwnershipView>,
  Accepts<z.infer<typeof workerPresenceSchema>, WorkerPresence>,
];
