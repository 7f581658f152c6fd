/**
 * The API contract (`GET /openapi.json`): a valid OpenAPI 3.1 document (by a
 * real validator) that lists exactly the routes the router serves, and whose
 * schemas accept every answer a real control plane gives — each operation's
 * success and its main failures — so the document cannot drift from what is
 * served.
 */
import test, { type ExecutionContext } from 'ava';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Validator } from '@seriousme/openapi-schema-validator';
import { readFileSync } from 'node:fs';
import type { ControlPlane } from '../../src/actors/control-plane.js';
import { openApiDocument, openApiPath } from '../../src/http/openapi.js';
import { operationIds, operations, type OperationId } from '../../src/http/operations.js';
import { createRoutes } from '../../src/http/routes.js';
import { embedded } from '../helpers/embedded.js';

type Json = Record<string, unknown>;
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const document = openApiDocument(version);
const paths = document.paths as Record<string, Record<string, Json>>;

function operationOf(id: OperationId): Json {
  const { method, path } = operations[id];
  const operation = paths[openApiPath(path)]?.[method.toLowerCase()];
  if (operation === undefined) throw new Error(`${id} is not in the document`);
  return operation;
}

test('the document is valid OpenAPI 3.1', async (t) => {
  const result = await new Validator().validate(document as Parameters<Validator['validate']>[0]);
  t.true(result.valid, JSON.stringify(result.errors, null, 2));
  t.is(document.openapi, '3.1.0');
  t.is((document.info as Json).version, version);
});

test('every route the router serves is in the document, and every documented operation is served', (t) => {
  const router = createRoutes({} as ControlPlane);
  const served = router.stack.flatMap((layer) => layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method} ${openApiPath(String(layer.path))} ${layer.name}`));
  const documented = Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => `${method.toUpperCase()} ${path} ${String(operation.operationId)}`),
  );
  t.deepEqual([...documented].sort(), [...served].sort());
  t.is(served.length, operationIds.length);
});

test('public operations need no token; the others name their least role; POSTs take an Idempotency-Key', (t) => {
  t.deepEqual(document.security, [{ bearerAuth: [] }]);
  for (const id of operationIds) {
    const operation = operationOf(id);
    t.is(operation['x-draas-access'], operations[id].access, id);
    if (operations[id].access === 'public') t.deepEqual(operation.security, [], id);
    else t.is(operation.security, undefined, id);
    const headers = ((operation.parameters ?? []) as Json[]).filter((parameter) => parameter.in === 'header').map((parameter) => parameter.name);
    t.is(headers.includes('Idempotency-Key'), operations[id].method === 'POST', id);
    const problem = (operation.responses as Record<string, Json>)['500'];
    t.truthy(problem, `${id} documents its problem answers`);
  }
});

// ---------------------------------------------------------------- real answers against the document

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(document, 'openapi.json');
const pointer = (...segments: string[]) => segments.map((segment) => segment.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

interface Answer {
  status: number;
  type: string;
  body: unknown;
  headers: Headers;
}

/** Checks one real answer of `id` against the document: its status is documented, and its body fits the schema of its media type. */
function conforms(t: ExecutionContext, id: OperationId, answer: Answer, seen: Set<string>): void {
  const { method, path } = operations[id];
  const responses = operationOf(id).responses as Record<string, Json>;
  const documented = responses[String(answer.status)];
  if (!t.truthy(documented, `${id} answered ${answer.status}, which is not documented: ${JSON.stringify(answer.body)}`)) return;
  seen.add(`${id} ${answer.status}`);
  const content = documented!.content as Record<string, Json> | undefined;
  if (content === undefined) {
    t.is(answer.body, undefined, `${id} ${answer.status} has no body`);
    return;
  }
  const mediaType = answer.type.split(';')[0]!.trim();
  if (!t.truthy(content[mediaType], `${id} ${answer.status} answered ${mediaType}; documented: ${Object.keys(content).join(', ')}`)) return;
  if (typeof answer.body === 'string' || answer.body === undefined) return; // a text answer: its media type is what the document says
  const ref = `openapi.json#/${pointer('paths', openApiPath(path), method.toLowerCase(), 'responses', String(answer.status), 'content', mediaType, 'schema')}`;
  const valid = ajv.validate({ $ref: ref }, answer.body);
  t.true(valid, `${id} ${answer.status}: ${ajv.errorsText(ajv.errors)}\n${JSON.stringify(answer.body).slice(0, 600)}`);
  for (const [name] of Object.entries((documented!.headers ?? {}) as Json)) {
    if (name === 'ETag' && answer.status === 200 && (id === 'getConfiguration' || id === 'getOpenApi')) t.truthy(answer.headers.get(name), `${id} sends ${name}`);
  }
}

test('a real control plane answers every operation as the document says: successes and main failures', async (t) => {
  const { draas } = await embedded(t, { http: { acceptStatusReports: true }, reconcileIntervalMs: null });
  const listener = await draas.listen({ port: 0, host: '127.0.0.1' });
  const base = listener.url.replace(/\/$/, '');
  const seen = new Set<string>();
  const call = async (id: OperationId, path: string, init: { body?: unknown; headers?: Record<string, string>; method?: string; base?: string } = {}): Promise<Answer> => {
    const headers: Record<string, string> = { 'cache-control': 'max-age=0', ...init.headers };
    if (init.body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch((init.base ?? base) + path, {
      method: init.method ?? operations[id].method,
      headers,
      ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
    });
    const type = response.headers.get('content-type') ?? '';
    let body: unknown;
    if (type.startsWith('text/event-stream')) await response.body?.cancel();
    else {
      const text = await response.text();
      body = text === '' ? undefined : type.includes('json') ? JSON.parse(text) : text;
    }
    const answer = { status: response.status, type, body, headers: response.headers };
    conforms(t, id, answer, seen);
    return answer;
  };
  const expect = async (id: OperationId, status: number, path: string, init?: Parameters<typeof call>[2]) => {
    const answer = await call(id, path, init);
    t.is(answer.status, status, `${id} ${path}: ${JSON.stringify(answer.body)}`);
    return answer;
  };

  await expect('health', 200, '/healthz');
  await expect('readiness', 200, '/readyz');
  const contract = await expect('getOpenApi', 200, '/openapi.json');
  t.deepEqual(contract.body, JSON.parse(JSON.stringify(document)), 'the served document is the one tested here');
  await expect('getOpenApi', 304, '/openapi.json', { headers: { 'if-none-match': contract.headers.get('etag')! } });
  await expect('listMachines', 200, '/api/machines');
  await expect('getMachine', 200, '/api/machines/instance');
  await expect('getMachine', 200, '/api/machines/instance?format=mermaid');
  await expect('getMachine', 404, '/api/machines/nope');
  await expect('getMachine', 400, '/api/machines/instance?format=svg');
  await expect('listPlatforms', 200, '/api/platforms');
  await expect('listReplicas', 200, '/api/replicas');

  const created = await expect('createInstance', 201, '/api/server/instances', { body: { name: 'one', description: 'the contract test', configuration: { sources: [{ kind: 'mock', id: 's' }] } }, headers: { 'idempotency-key': 'c1' } });
  t.is(created.headers.get('location'), '/api/server/instances/one');
  await expect('createInstance', 201, '/api/server/instances', { body: { name: 'pending' } });
  await expect('createInstance', 400, '/api/server/instances', { body: { name: 'Not A Label' } });
  await expect('createInstance', 409, '/api/server/instances', { body: { name: 'pending' } });
  await expect('createInstance', 415, '/api/server/instances', { body: 'name=x', headers: { 'content-type': 'text/plain' } });
  await expect('createInstance', 422, '/api/server/instances', { body: { name: 'bad', configuration: { queries: [{ id: 'q', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'nope' }] }] } } });
  await expect('createInstance', 422, '/api/server/instances', { body: { name: 'other' }, headers: { 'idempotency-key': 'c1' } });
  await expect('createInstance', 400, '/api/server/instances', { body: { name: 'other' }, headers: { 'idempotency-key': 'bad key' } });

  await expect('listInstances', 200, '/api/server/instances');
  await expect('listAuditEntries', 404, '/api/audit');

  // With --auth: 401 and 403 as documented, and the audit log.
  const secured = await embedded(t, { auth: {}, reconcileIntervalMs: null });
  const securedBase = (await secured.draas.listen({ port: 0, host: '127.0.0.1' })).url.replace(/\/$/, '');
  const { FileTokenStore } = await import('../../src/auth/file-token-store.js');
  const tokens = new FileTokenStore(secured.dataDir);
  const admin = { authorization: `Bearer ${(await tokens.add('admin', 'admin')).token}` };
  const viewer = { authorization: `Bearer ${(await tokens.add('viewer', 'viewer')).token}` };
  await expect('createInstance', 401, '/api/server/instances', { base: securedBase, body: { name: 'two' } });
  await expect('createInstance', 403, '/api/server/instances', { base: securedBase, body: { name: 'two' }, headers: viewer });
  await expect('listAuditEntries', 200, '/api/audit?limit=10', { base: securedBase, headers: admin });
  await expect('listAuditEntries', 400, '/api/audit?limit=0', { base: securedBase, headers: admin });
  const page = await expect('listInstances', 200, '/api/server/instances?limit=1');
  t.truthy(page.headers.get('next-cursor'));
  await expect('listInstances', 400, '/api/server/instances?cursor=zzz');
  await expect('getInstance', 200, '/api/server/instances/one');
  await expect('getInstance', 404, '/api/server/instances/nope');
  await expect('getInstance', 400, '/api/server/instances/Bad_Id');

  const config = await expect('getConfiguration', 200, '/api/configuration/instances/one');
  await expect('getConfiguration', 304, '/api/configuration/instances/one', { headers: { 'if-none-match': config.headers.get('etag')! } });
  await expect('getConfiguration', 404, '/api/configuration/instances/nope');
  const patchType = { 'content-type': 'application/json-patch+json' };
  await expect('patchConfiguration', 200, '/api/configuration/instances/one', { body: [{ op: 'replace', path: '/sources/0/id', value: 's2' }], headers: { ...patchType, 'if-match': config.headers.get('etag')! } });
  await expect('patchConfiguration', 412, '/api/configuration/instances/one', { body: [{ op: 'replace', path: '/sources/0/id', value: 's3' }], headers: { ...patchType, 'if-match': config.headers.get('etag')! } });
  await expect('patchConfiguration', 422, '/api/configuration/instances/one', { body: [{ op: 'add', path: '/log_level', value: 'info' }], headers: patchType });
  await expect('patchConfiguration', 400, '/api/configuration/instances/one?updateStrategy=never', { body: [], headers: patchType });
  await expect('patchConfiguration', 404, '/api/configuration/instances/nope', { body: [], headers: patchType });

  await expect('startInstance', 200, '/api/server/instances/one/start', { headers: { 'idempotency-key': 's1' } });
  await expect('startInstance', 200, '/api/server/instances/one/start', { headers: { 'idempotency-key': 's1' } });
  await expect('startInstance', 404, '/api/server/instances/nope/start');
  await expect('getStatus', 200, '/api/status/one/status');
  await expect('getStatus', 404, '/api/status/nope/status');
  await expect('getInstanceLogs', 200, '/api/server/instances/one/logs?tail=5');
  await expect('getInstanceLogs', 400, '/api/server/instances/one/logs?tail=0');
  await expect('getInstanceLogs', 404, '/api/server/instances/nope/logs');
  await expect('getDrift', 200, '/api/status/one/drift');
  await expect('getDrift', 404, '/api/status/nope/drift');
  await expect('reconcileInstance', 200, '/api/server/instances/one/reconcile');
  await expect('getDrift', 200, '/api/status/one/drift');
  await expect('reconcileInstance', 404, '/api/server/instances/nope/reconcile');
  await expect('restartInstance', 200, '/api/server/instances/one/restart');
  await expect('restartInstance', 404, '/api/server/instances/nope/restart');
  await expect('reportStatus', 202, '/api/status/updates', { body: { instanceId: 'one', status: 'Failed', source: 'contract-test' } });
  await expect('reportStatus', 409, '/api/status/updates', { body: { instanceId: 'pending', status: 'Running' } });
  await expect('reportStatus', 400, '/api/status/updates', { body: { instanceId: 'one', status: 'Dancing' } });
  await expect('reportStatus', 404, '/api/status/updates', { body: { instanceId: 'nope', status: 'Failed' } });
  await expect('getStatus', 200, '/api/status/one/status');
  await expect('getInstance', 200, '/api/server/instances/one');
  await expect('stopInstance', 200, '/api/server/instances/one/stop');
  await expect('stopInstance', 404, '/api/server/instances/nope/stop');
  await expect('listRecentChanges', 200, '/api/status/recent-changes?limit=5');
  await expect('listRecentChanges', 400, '/api/status/recent-changes?limit=0');
  await expect('streamEvents', 200, '/api/events?instanceId=one');
  await expect('streamEvents', 400, '/api/events?type=nope');
  await expect('deleteInstance', 204, '/api/server/instances/one');
  await expect('deleteInstance', 404, '/api/server/instances/one');
  await expect('deleteInstance', 400, '/api/server/instances/Bad_Id');
  await expect('listInstances', 200, '/api/server/instances');
  await expect('getMetrics', 200, '/metrics');

  // Every operation was checked with a success and (where it has one) a failure.
  for (const id of operationIds) {
    const statuses = [...seen].filter((entry) => entry.startsWith(`${id} `)).map((entry) => Number(entry.split(' ')[1]));
    t.true(statuses.some((status) => status < 300), `${id}: a success was checked (${statuses.join(', ')})`);
    if (!['health', 'readiness', 'listMachines', 'listPlatforms', 'listReplicas', 'getOpenApi', 'getMetrics'].includes(id)) {
      t.true(statuses.some((status) => status >= 400), `${id}: a failure was checked (${statuses.join(', ')})`);
    }
  }
});
