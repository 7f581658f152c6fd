/**
 * The API contract as an OpenAPI 3.1 document, built from the operation
 * catalog (`operations.ts`: ids, methods, paths, roles, summaries) and the
 * zod schemas that validate requests (`instance-requests.ts`,
 * `query-schemas.ts`) and describe answers (`response-schemas.ts`). Pure:
 * the same catalog and schemas give the same document; a test checks it with
 * an OpenAPI validator, against the router, and against real answers.
 */
import { z } from 'zod';
import { createInstanceRequestSchema, instanceIdSchema, patchConfigOptionsSchema, statusReportSchema } from '../api/instance-requests.js';
import { errorTable } from '../errors.js';
import { machineIds } from '../machines/machine-document.js';
import { operationIds, operations, type OperationId } from './operations.js';
import { auditQuerySchema, eventsQuerySchema, listInstancesQuerySchema, logsQuerySchema, machineQuerySchema, recentChangesQuerySchema } from './query-schemas.js';
import {
  configViewSchema,
  driftSchema,
  healthSchema,
  instanceListSchema,
  instanceViewSchema,
  logsSchema,
  machineDocumentSchema,
  machineListSchema,
  auditPageSchema,
  platformsSchema,
  problemSchema,
  readinessSchema,
  recentChangesSchema,
  replicasSchema,
  statusViewSchema,
} from './response-schemas.js';

type JsonObject = Record<string, unknown>;

/** An answer of an operation: its schema per media type, and the headers it carries. */
interface Answer {
  description: string;
  content?: Record<string, z.ZodType | { type: 'string'; description?: string }>;
  headers?: HeaderName[];
}

interface Contract {
  query?: z.ZodObject;
  /** The request body (JSON), and whether it may be left out. */
  body?: { schema: z.ZodType; types: string[]; optional?: boolean };
  answers: Record<number, Answer>;
  /** The problem+json answers it can give, by status (see errorTable). */
  problems: number[];
}

const headers = {
  ETag: { description: 'The entity tag of the representation', schema: { type: 'string' } },
  Location: { description: 'The created resource', schema: { type: 'string' } },
  'Next-Cursor': { description: 'The cursor of the next page (absent on the last)', schema: { type: 'string' } },
  Link: { description: 'RFC 8288 `<…>; rel="next"`: the next page', schema: { type: 'string' } },
  'Idempotent-Replayed': { description: '`true` when this is the stored answer of an earlier request with the same Idempotency-Key', schema: { type: 'string', enum: ['true'] } },
  'Retry-After': { description: 'Seconds after which a retry may succeed', schema: { type: 'integer' } },
} as const;
type HeaderName = keyof typeof headers;

const json = (schema: z.ZodType) => ({ 'application/json': schema });
const text = (description: string) => ({ type: 'string' as const, description });
const instanceId = { id: instanceIdSchema };
/** A mutation's answer may be the replay of an earlier one. */
const replayable: HeaderName[] = ['Idempotent-Replayed'];
/** Problems any operation on an instance may answer: a bad id, an unknown instance. */
const onInstance = [400, 404];
/** An instance operation that reaches its owner (another replica, a worker) may find it unavailable (503) or slow (504). */
const reachesWorker = [502, 503, 504];
/** Problems of a POST with an Idempotency-Key: a bad key (400), the key reused (422), the first still running (409). */
const idempotencyProblems = [400, 409, 422];

const contracts: Record<OperationId, Contract & { pathParams?: Record<string, z.ZodType> }> = {
  streamEvents: {
    query: eventsQuerySchema,
    answers: { 200: { description: 'Server-Sent Events: `status-changed` (and `heartbeat`, `reset`, `overflow`) with `id:` for resuming', content: { 'text/event-stream': text('text/event-stream frames') } } },
    problems: [400, 503],
  },
  listMachines: { answers: { 200: { description: 'The machines', content: json(machineListSchema) } }, problems: [] },
  getMachine: {
    pathParams: { id: z.enum(machineIds) },
    query: machineQuerySchema,
    answers: {
      200: {
        description: 'The machine as data (json), Mermaid or Graphviz DOT',
        headers: ['ETag'],
        content: { 'application/json': machineDocumentSchema, 'text/plain': text('Mermaid state diagram'), 'text/vnd.graphviz': text('Graphviz DOT') },
      },
      304: { description: 'Not modified (If-None-Match)' },
    },
    problems: [400, 404],
  },
  createInstance: {
    body: { schema: createInstanceRequestSchema, types: ['application/json'] },
    answers: { 201: { description: 'Created (Pending)', headers: ['Location', ...replayable], content: json(instanceViewSchema) } },
    problems: [...new Set([400, 409, 413, 415, 422, ...idempotencyProblems, 503])],
  },
  listInstances: {
    query: listInstancesQuerySchema,
    answers: { 200: { description: 'The instances in id order: all of them, or one page when `limit` or `cursor` is given', headers: ['Next-Cursor', 'Link'], content: json(instanceListSchema) } },
    problems: [400, 503],
  },
  getInstance: { pathParams: instanceId, answers: { 200: { description: 'The instance', content: json(instanceViewSchema) } }, problems: [...onInstance, 503] },
  deleteInstance: { pathParams: instanceId, answers: { 204: { description: 'Deleted' } }, problems: [...onInstance, 409, 415, ...reachesWorker] },
  startInstance: lifecycle('Running'),
  stopInstance: lifecycle('Stopped'),
  restartInstance: lifecycle('Running again, with a new workload'),
  reconcileInstance: {
    pathParams: instanceId,
    answers: { 200: { description: 'The comparison made now', headers: replayable, content: json(driftSchema) } },
    problems: [...new Set([...onInstance, 409, 415, ...idempotencyProblems, ...reachesWorker])],
  },
  getInstanceLogs: {
    pathParams: instanceId,
    query: logsQuerySchema,
    answers: { 200: { description: 'The last lines; with follow=true, a text stream of lines as they come', content: { 'application/json': logsSchema, 'text/plain': text('followed log lines') } } },
    problems: [...onInstance, ...reachesWorker],
  },
  getConfiguration: {
    pathParams: instanceId,
    answers: {
      200: { description: 'The configuration and its generation; the ETag names the generation', headers: ['ETag'], content: json(configViewSchema) },
      304: { description: 'Not modified (If-None-Match names the current generation)', headers: ['ETag'] },
    },
    problems: [...onInstance, 503],
  },
  patchConfiguration: {
    pathParams: instanceId,
    query: patchConfigOptionsSchema,
    body: {
      schema: z.union([z.array(z.record(z.string(), z.unknown())).meta({ description: 'RFC 6902 JSON Patch' }), z.record(z.string(), z.unknown()).meta({ description: 'RFC 7396 JSON merge patch' })]),
      types: ['application/json-patch+json', 'application/json'],
    },
    answers: { 200: { description: 'The new configuration and generation (recorded; a running server takes it by its update strategy)', headers: ['ETag'], content: json(configViewSchema) } },
    problems: [...onInstance, 409, 412, 413, 415, 422, 503],
  },
  reportStatus: {
    body: { schema: statusReportSchema, types: ['application/json'] },
    answers: { 202: { description: 'Accepted: the status it led to', headers: replayable, content: json(statusViewSchema) } },
    problems: [...new Set([400, 403, 404, 409, 413, 415, ...idempotencyProblems, 503])],
  },
  listRecentChanges: {
    query: recentChangesQuerySchema,
    answers: { 200: { description: 'The newest changes (after the cursor), oldest first; Next-Cursor continues after the newest', headers: ['Next-Cursor', 'Link'], content: json(recentChangesSchema) } },
    problems: [400, 503],
  },
  getStatus: { pathParams: instanceId, answers: { 200: { description: 'Status, desired and observed state, conditions, history', content: json(statusViewSchema) } }, problems: [...onInstance, 503] },
  getDrift: { pathParams: instanceId, answers: { 200: { description: 'The last comparison (`not-checked` before the first)', content: json(driftSchema) } }, problems: [...onInstance, 503] },
  listReplicas: { answers: { 200: { description: 'The replicas and their shards', content: json(replicasSchema) } }, problems: [503] },
  listPlatforms: { answers: { 200: { description: 'Each platform, whether it takes commands, its workers', content: json(platformsSchema) } }, problems: [503] },
  listAuditEntries: {
    query: auditQuerySchema,
    answers: { 200: { description: 'Audit entries, oldest first, and the cursor to read on from', content: json(auditPageSchema) } },
    problems: [400, 404, 503],
  },
  getOpenApi: {
    answers: {
      200: { description: 'This document', headers: ['ETag'], content: { 'application/json': z.record(z.string(), z.unknown()).meta({ description: 'OpenAPI 3.1' }) } },
      304: { description: 'Not modified (If-None-Match)' },
    },
    problems: [],
  },
  health: { answers: { 200: { description: 'The process answers', content: json(healthSchema) } }, problems: [] },
  readiness: {
    answers: { 200: { description: 'Ready', content: json(readinessSchema) }, 503: { description: 'Not ready (store or transport does not answer)', content: json(readinessSchema) } },
    problems: [],
  },
  getMetrics: {
    answers: { 200: { description: 'A Prometheus scrape (docs/operations.md, "Metrics")', content: { 'text/plain': text('Prometheus text exposition format 0.0.4') } } },
    problems: [],
  },
};

function lifecycle(outcome: string): Contract & { pathParams: Record<string, z.ZodType> } {
  return {
    pathParams: instanceId,
    answers: { 200: { description: `The instance once ${outcome}`, headers: replayable, content: json(instanceViewSchema) } },
    problems: [...new Set([...onInstance, 409, 415, ...idempotencyProblems, ...reachesWorker])],
  };
}

/** Problems every operation may answer: a Host not allowed (421), a foreign browser Origin (403), a bug (500). */
const everywhere = [403, 421, 500];

/** The Koa path (`/a/:id`) in OpenAPI form (`/a/{id}`). */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]\w*)/g, '{$1}');
}

/**
 * A JSON Schema of a zod schema, its named parts (`.meta({ id })`) moved to
 * `components.schemas` and referenced from there.
 */
function schemaOf(schema: z.ZodType, io: 'input' | 'output', components: JsonObject): JsonObject {
  const converted = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonObject;
  const { $schema: _dialect, $defs, ...rest } = converted;
  for (const [name, definition] of Object.entries(($defs ?? {}) as JsonObject)) components[name] = pointAtComponents(definition);
  return pointAtComponents(rest) as JsonObject;
}

function pointAtComponents(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pointAtComponents);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, member]) => [key, key === '$ref' && typeof member === 'string' ? member.replace(/^#\/\$defs\//, '#/components/schemas/') : pointAtComponents(member)]),
  );
}

function contentOf(content: NonNullable<Answer['content']>, io: 'input' | 'output', components: JsonObject): JsonObject {
  return Object.fromEntries(
    Object.entries(content).map(([type, schema]) => [type, { schema: schema instanceof z.ZodType ? schemaOf(schema, io, components) : schema }]),
  );
}

/** The OpenAPI 3.1 document of this API; `version` is the package's. */
export function openApiDocument(version: string): JsonObject {
  const components: JsonObject = {};
  const problem = { $ref: '#/components/schemas/Problem' };
  schemaOf(problemSchema, 'output', components);
  const paths: Record<string, JsonObject> = {};
  for (const id of operationIds) {
    const operation = operations[id];
    const contract = contracts[id];
    const parameters: JsonObject[] = [];
    for (const [name, schema] of Object.entries(contract.pathParams ?? {})) {
      parameters.push({ name, in: 'path', required: true, schema: schemaOf(schema, 'input', components) });
    }
    if (contract.query) {
      const query = schemaOf(contract.query, 'input', components);
      const properties = (query.properties ?? {}) as Record<string, JsonObject>;
      const required = (query.required ?? []) as string[];
      for (const [name, schema] of Object.entries(properties)) {
        const { description, ...rest } = schema;
        parameters.push({ name, in: 'query', required: required.includes(name), schema: rest, ...(description !== undefined ? { description } : {}) });
      }
    }
    if (operation.method === 'POST') {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'Makes a retry safe: the same key and request get the first answer again (24 h); the same key with another request is 422',
        schema: { type: 'string', minLength: 1, maxLength: 257 },
      });
    }
    if (id === 'patchConfiguration') {
      parameters.push({ name: 'If-Match', in: 'header', required: false, description: 'The ETag of the configuration the change was made for, or `*`; another current generation is 412', schema: { type: 'string' } });
    }
    if (id === 'getConfiguration' || id === 'getMachine' || id === 'getOpenApi') {
      parameters.push({ name: 'If-None-Match', in: 'header', required: false, description: 'An ETag read before: 304 while it is current', schema: { type: 'string' } });
    }
    const responses: JsonObject = {};
    for (const [status, answer] of Object.entries(contract.answers)) {
      responses[status] = {
        description: answer.description,
        ...(answer.headers ? { headers: Object.fromEntries(answer.headers.map((name) => [name, headers[name]])) } : {}),
        ...(answer.content ? { content: contentOf(answer.content, 'output', components) } : {}),
      };
    }
    // Every mutation reads a body (even an empty one): too large (413) or not JSON (415).
    const bodyProblems = operation.mutation ? [413, 415] : [];
    // With --auth: no or a bad token (401), a role too low (403).
    const authProblems = operation.access === 'public' ? [] : [401, 403];
    for (const status of [...new Set([...contract.problems, ...bodyProblems, ...authProblems, ...everywhere])].sort()) {
      const titles = Object.values(errorTable).filter((kind) => kind.status === status).map((kind) => kind.title);
      responses[String(status)] = {
        description: titles.length > 0 ? titles.join('; ') : 'Problem',
        ...(status === 503 || status === 409 ? { headers: { 'Retry-After': headers['Retry-After'] } } : {}),
        content: { 'application/problem+json': { schema: problem } },
      };
    }
    const path = openApiPath(operation.path);
    paths[path] ??= {};
    paths[path][operation.method.toLowerCase()] = {
      operationId: id,
      summary: operation.summary,
      tags: [tagOf(operation.path)],
      'x-draas-access': operation.access,
      ...(operation.access === 'public' ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(contract.body
        ? {
            requestBody: {
              required: contract.body.optional !== true,
              content: Object.fromEntries(contract.body.types.map((type) => [type, { schema: schemaOf(contract.body!.schema, 'input', components) }])),
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'DRaaS: Drasi as a Service',
      version,
      description: 'Runs fleets of Drasi Server instances. Errors are application/problem+json (RFC 9457) with a stable `type` (urn:draas:problem:<code>).',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => (a < b ? -1 : 1))),
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token; `x-draas-access` on each operation names the least role it needs' } },
    },
  };
}

function tagOf(path: string): string {
  if (path.startsWith('/api/server')) return 'instances';
  if (path.startsWith('/api/configuration')) return 'configuration';
  if (path.startsWith('/api/status') || path === '/api/events') return 'status';
  if (path.startsWith('/api/')) return 'fleet';
  return 'service';
}
