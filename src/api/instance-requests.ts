/**
 * Schemas of what users send (HTTP bodies and library calls alike), checked
 * once at the boundary. Everything past this point trusts its input.
 */
import { z } from 'zod';
import { MAX_JSON_DEPTH, measureJson } from '../drasi/json-limits.js';
import { BadRequestError } from '../errors.js';
import { updateStrategies } from '../machines/instance-types.js';
import { platformTypes, type PlatformType } from '../platforms/driver.js';
import { platformOptionSchemas } from '../platforms/platform-options.js';

/** DNS-1123 label, at most 40 characters: safe in file paths, container names and Kubernetes names. */
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const instanceIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(40, 'must be at most 40 characters')
  .regex(dnsLabel, 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit');

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];

export const serverConfigurationSchema = z
  .object({
    host: z.string().min(1).max(253).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    logLevel: z.enum(logLevels).optional(),
  })
  .strict();

const environmentSchema = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and "_"'),
  z.string(),
);

export const createInstanceRequestSchema = z
  .object({
    name: instanceIdSchema,
    description: z.string().max(1024).optional(),
    platformType: z.enum(platformTypes as [string, ...string[]]).optional(),
    serverConfiguration: serverConfigurationSchema.optional(),
    /** The Drasi Server configuration document; validated by the config model. */
    configuration: z.record(z.string(), z.unknown()).optional(),
    /** Environment for the server, e.g. the values its `${VAR}` references need. */
    environment: environmentSchema.optional(),
    /** Options of the chosen platform (e.g. Docker's `image`, `memoryMb`, `cpus`, `network`), checked by that platform's schema. */
    platformOptions: z.record(z.string(), z.unknown()).optional(),
    /** How configuration changes reach the instance while it runs (default `auto`). */
    updateStrategy: z.enum(updateStrategies).optional(),
  })
  .strict()
  .superRefine((body, context) => {
    if (body.platformOptions === undefined) return;
    const platform = (body.platformType ?? 'process') as PlatformType;
    const result = platformOptionSchemas[platform].safeParse(body.platformOptions);
    if (result.success) return;
    for (const issue of result.error.issues) {
      const message = issue.code === 'unrecognized_keys' ? `${issue.message} (not an option of platform "${platform}")` : issue.message;
      context.addIssue({ code: 'custom', path: ['platformOptions', ...issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key))], message });
    }
  });

export type CreateInstanceRequest = z.infer<typeof createInstanceRequestSchema>;

/** Options of one configuration change: `updateStrategy` overrides the instance's own for this change. */
export const patchConfigOptionsSchema = z.object({ updateStrategy: z.enum(updateStrategies).optional() }).strict();

/**
 * The options of a configuration change as the library takes them: the
 * query's, and `ifGeneration`, the generations the change may apply to (what
 * an HTTP `If-Match` names); any other current generation refuses it (412),
 * checked in the same step as the change.
 */
export const patchConfigCallOptionsSchema = patchConfigOptionsSchema
  .extend({ ifGeneration: z.array(z.number().int().min(1)).max(100).optional() })
  .strict();

export type PatchConfigOptions = z.infer<typeof patchConfigCallOptionsSchema>;

export const statusReportSchema = z
  .object({
    instanceId: instanceIdSchema,
    status: z.enum(['Running', 'Stopped', 'Failed']),
    source: z.string().min(1).max(200).optional(),
    message: z.string().max(2000).optional(),
  })
  .strict();

export type StatusReport = z.infer<typeof statusReportSchema>;

/**
 * Who sent a status report, as the REST API saw it (the peer address of the
 * connection). Not part of the report: a caller cannot choose it.
 */
export const reportSenderSchema = z.object({ remoteAddress: z.string().min(1).max(64) }).strict();

export type ReportSender = z.infer<typeof reportSenderSchema>;

/**
 * Refuses input nested deeper than `MAX_JSON_DEPTH` (400), by a walk without
 * recursion: deeper trees would overflow the stack of the recursive code
 * behind (zod, the config model, `JSON.stringify` on the transport).
 */
export function refuseDeepInput(input: unknown, what: string): void {
  if (!measureJson(input, MAX_JSON_DEPTH).tooDeep) return;
  throw new BadRequestError(`invalid ${what}: nested deeper than ${MAX_JSON_DEPTH} levels`, { reason: 'too-deep', maxDepth: MAX_JSON_DEPTH });
}

/** Parses untrusted input or throws a BadRequestError that lists every problem. */
export function parseRequest<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  refuseDeepInput(input, what);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: '/' + issue.path.map(String).join('/'),
    message: issue.message,
  }));
  const first = issues[0];
  const summary = first ? `${first.path === '/' ? '' : first.path + ': '}${first.message}` : 'invalid';
  throw new BadRequestError(`invalid ${what}: ${summary}`, { issues });
}

export function parseInstanceId(id: unknown): string {
  // Every lifecycle call checks its id: a valid one passes without the schema's machinery, which words the errors.
  if (typeof id === 'string' && id.length <= 40 && dnsLabel.test(id)) return id;
  return parseRequest(instanceIdSchema, id, 'instance id');
}
