import { z } from 'zod';
import { rejectSnakeCaseOf, rejectUnknownKeys } from './config-keys.js';
import { containsEnvRef, isEnvRef } from './env-ref.js';
import { isValidHost } from './host.js';

/**
 * Zod schemas for a Drasi Server 0.2.x config document, as the server's own
 * serde structs accept it (drasi-server `src/config/types.rs`:
 * `DrasiServerConfig`, `DrasiLibInstanceConfig`; `src/api/models/source.rs`,
 * `reaction.rs`, `queries/query.rs`).
 *
 * Design rules, so that a document DRaaS accepts is one the server starts with:
 * - The schemas only check; they never transform and never fill defaults.
 *   What a user wrote is what the server gets (the server applies its own
 *   defaults), and a parse → render round trip is lossless.
 * - Structs the server declares `deny_unknown_fields` (top level, instances,
 *   queries, query subscriptions) are strict here. Sources and reactions are
 *   open: every key other than the common ones belongs to the plugin.
 * - Fields the server types as `ConfigValue<T>` (and, because the server also
 *   expands `${VAR}` in the file text, see `src/config/env_interpolation.rs`,
 *   boolean flags and sizes) accept a `${VAR}` / `${VAR:-default}` string
 *   instead of a literal; literals are range-checked.
 */

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

// ---------------------------------------------------------------- scalars

const nonEmptyString = z.string().min(1, { error: 'must not be empty' });

/** `bool` fields: a literal boolean or a reference. */
const flagError = (iss: { input?: unknown }): string => `must be true, false or a \${VAR} reference (got ${describe(iss.input)})`;
const flag = z
  .union([z.boolean(), z.string()], { error: flagError })
  .refine((value) => typeof value === 'boolean' || isEnvRef(value), { error: flagError });

/** `usize` fields (capacities, buffer sizes): a non-negative integer or a reference. */
const countError = (iss: { input?: unknown }): string =>
  `must be a non-negative integer or a \${VAR} reference (got ${describe(iss.input)})`;
const count = z
  .union([z.number(), z.string()], { error: countError })
  .refine((value) => (typeof value === 'number' ? Number.isInteger(value) && value >= 0 : isEnvRef(value)), { error: countError });

/** `ConfigValue<u16>`; 0 is refused by the server ("port must be between 1 and 65535"). */
const portError = (iss: { input?: unknown }): string =>
  `must be an integer between 1 and 65535 or a \${VAR} reference (got ${describe(iss.input)})`;
const port = z.union([z.number(), z.string()], { error: portError }).refine(isPortValue, { error: portError });

/** `ConfigValue<String>` checked by the server against trace|debug|info|warn|error (case-insensitively). */
const logLevel = z.string().refine((value) => containsEnvRef(value) || isLogLevel(value), {
  error: (iss) => `must be one of ${LOG_LEVELS.join(', ')} or a \${VAR} reference (got ${describe(iss.input)})`,
});

/** `ConfigValue<String>` checked by the server: hostname, IP address or `0.0.0.0`. */
const host = z.string().refine((value) => containsEnvRef(value) || isValidHost(value), {
  error: (iss) => `must be a hostname or an IP address (got ${describe(iss.input)})`,
});

/** `ConfigValue<String>` mapped by the server onto its `QueryLanguage` enum. */
const queryLanguage = z.string().refine((value) => value === 'Cypher' || value === 'GQL' || isEnvRef(value), {
  error: (iss) => `must be Cypher or GQL (got ${describe(iss.input)})`,
});

const stringList = z.array(z.string());

// ---------------------------------------------------------------- helpers

type StrictOutput<S extends z.ZodRawShape> = z.output<z.ZodObject<S, z.core.$strict>>;

/**
 * A strict object whose unknown keys each get their own issue (with the
 * camelCase suggestion) alongside every other issue of the same object.
 * zod's own strict mode reports them as one lump and stops refinements.
 */
function strictObject<S extends z.ZodRawShape>(shape: S, where: string): z.ZodType<StrictOutput<S>> {
  return z.looseObject(shape).superRefine(rejectUnknownKeys(Object.keys(shape), where), { when: () => true });
}

/** An open object (plugin config): typed common keys, every other key kept as is. */
function pluginObject<S extends z.ZodRawShape>(shape: S, where: string) {
  return z.looseObject(shape).superRefine(rejectSnakeCaseOf(Object.keys(shape), where), { when: () => true });
}

// ---------------------------------------------------------------- components

/**
 * `bootstrapProvider` of a source: a `kind` plus provider-specific keys. When
 * its kind equals the source's, the server copies connection keys it lacks
 * from the source (drasi-server `source.rs`, `merge_bootstrap_provider_with_source`).
 */
export const bootstrapProviderSchema = z.looseObject({ kind: nonEmptyString });

/** A source: `kind`, `id`, optional `autoStart` (server default true), the rest is the plugin's. */
export const sourceSchema = pluginObject(
  {
    kind: nonEmptyString,
    id: nonEmptyString,
    autoStart: flag.optional(),
    bootstrapProvider: bootstrapProviderSchema.optional(),
    /** The `id` of an entry of `identityProviders`. */
    identityProvider: nonEmptyString.optional(),
  },
  'a source',
);

/** A reaction: `kind`, `id`, the query ids it follows, optional `autoStart` (default true). */
export const reactionSchema = pluginObject(
  {
    kind: nonEmptyString,
    id: nonEmptyString,
    queries: z.array(nonEmptyString),
    autoStart: flag.optional(),
  },
  'a reaction',
);

/** One entry of a query's `sources`: which source, and optional label / pipeline filters. */
export const sourceSubscriptionSchema = strictObject(
  {
    sourceId: nonEmptyString,
    nodes: stringList.optional(),
    relations: stringList.optional(),
    pipeline: stringList.optional(),
  },
  'a query source subscription',
);

/**
 * A continuous query (drasi-server `QueryConfigDto`, strict). The server's
 * defaults: `autoStart` false, `queryLanguage` GQL, `enableBootstrap` true,
 * `bootstrapBufferSize` 10000.
 */
export const querySchema = strictObject(
  {
    id: nonEmptyString,
    query: nonEmptyString,
    queryLanguage: queryLanguage.optional(),
    autoStart: flag.optional(),
    /** Names of middleware (or middleware definitions, depending on server version). */
    middleware: z.array(z.union([z.string(), z.looseObject({})])).optional(),
    sources: z.array(sourceSubscriptionSchema).optional(),
    enableBootstrap: flag.optional(),
    bootstrapBufferSize: count.optional(),
    /** Synthetic relations between sources; free-form JSON for the server. */
    joins: z.unknown().optional(),
    priorityQueueCapacity: count.optional(),
    dispatchBufferCapacity: count.optional(),
    dispatchMode: z.string().optional(),
    storageBackend: z.unknown().optional(),
  },
  'a query',
);

/** Where plugins persist their state (`kind: redb`, `path`, ...); in memory when absent. */
export const stateStoreSchema = z.looseObject({ kind: nonEmptyString });

/** A reusable credential provider that sources refer to by `id`. */
export const identityProviderSchema = z.looseObject({ id: nonEmptyString.optional(), kind: nonEmptyString.optional() });

/** `plugins: [{ref: source/mock}]`: OCI references the server installs at start. */
export const pluginDependencySchema = z.looseObject({ ref: nonEmptyString });

/** Who may have signed a plugin, when `verifyPlugins` is on. */
export const trustedIdentitySchema = z.looseObject({ issuer: nonEmptyString, subjectPattern: nonEmptyString });

/** The pipeline keys shared by the top level and each entry of `instances`. */
const pipelineShape = {
  persistIndex: flag.optional(),
  stateStore: stateStoreSchema.optional(),
  defaultPriorityQueueCapacity: count.optional(),
  defaultDispatchBufferCapacity: count.optional(),
  identityProviders: z.array(identityProviderSchema).optional(),
  sources: z.array(sourceSchema).optional(),
  queries: z.array(querySchema).optional(),
  reactions: z.array(reactionSchema).optional(),
};

/**
 * One DrasiLib instance of the multi-instance form (`instances:`): its own id,
 * index and state settings and its own sources, queries and reactions.
 */
export const instanceSchema = strictObject({ id: nonEmptyString, ...pipelineShape }, 'an instance');

/** The whole document: server settings, plugin settings and one or many pipelines. */
export const drasiServerConfigSchema = strictObject(
  {
    apiVersion: z.string().optional(),
    id: nonEmptyString.optional(),
    host: host.optional(),
    port: port.optional(),
    logLevel: logLevel.optional(),
    persistConfig: flag.optional(),
    enableUi: flag.optional(),
    pluginRegistry: z.string().optional(),
    autoInstallPlugins: flag.optional(),
    plugins: z.array(pluginDependencySchema).optional(),
    verifyPlugins: flag.optional(),
    trustedIdentities: z.array(trustedIdentitySchema).optional(),
    bootstrapProviders: z.union([z.array(z.looseObject({})), z.record(z.string(), z.unknown())]).optional(),
    instances: z.array(instanceSchema).optional(),
    ...pipelineShape,
  },
  'the server config',
);

export type DrasiServerConfig = z.infer<typeof drasiServerConfigSchema>;
export type DrasiInstanceConfig = z.infer<typeof instanceSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type QueryConfig = z.infer<typeof querySchema>;
export type ReactionConfig = z.infer<typeof reactionSchema>;
export type SourceSubscriptionConfig = z.infer<typeof sourceSubscriptionSchema>;
export type LogLevel = (typeof LOG_LEVELS)[number];
export { LOG_LEVELS };

// ---------------------------------------------------------------- checks

function isLogLevel(value: string): boolean {
  return (LOG_LEVELS as readonly string[]).includes(value.toLowerCase());
}

function isPortValue(value: number | string): boolean {
  if (typeof value === 'string') {
    if (isEnvRef(value)) return true;
    if (!/^[0-9]+$/.test(value)) return false;
    return isPortNumber(Number(value));
  }
  return isPortNumber(value);
}

function isPortNumber(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** A short rendering of an offending value for messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  return JSON.stringify(value) ?? String(value);
}
