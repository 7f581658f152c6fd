/**
 * Every error status of the REST API, over real HTTP, each with a
 * problem+json body. Uses the in-memory driver: these are about the API, not
 * about processes (the end-to-end suite covers those).
 */
import test from 'ava';
import { BadRequestError, WorkloadFailedError } from '../../src/errors.js';
import { serve } from '../helpers/memory-api.js';

function isProblem(t: import('ava').ExecutionContext, response: { status: number; type: string; body: Record<string, unknown> | undefined }, status: number, code: string) {
  t.is(response.status, status);
  t.regex(response.type, /^application\/problem\+json/);
  t.like(response.body, { status, type: `urn:draas:problem:${code}` });
  t.is(typeof response.body?.title, 'string');
  t.is(typeof response.body?.detail, 'string');
  t.false(JSON.stringify(response.body).includes('    at '), 'no stack trace');
}

test('201 with Location on create; 400 for malformed JSON, schema failures and bad names', async (t) => {
  const { call } = await serve(t);
  const created = await call('POST', '/api/server/instances', { name: 'test1', serverConfiguration: { host: '127.0.0.1', port: 18123, logLevel: 'debug' } });
  t.is(created.status, 201);
  t.is(created.headers.get('location'), '/api/server/instances/test1');
  t.like(created.body, { id: 'test1', status: 'Pending', platformType: 'process', serverConfiguration: { port: 18123, logLevel: 'debug' } });

  isProblem(t, await call('POST', '/api/server/instances', '{"name": "x",', {}), 400, 'bad-request');
  isProblem(t, await call('POST', '/api/server/instances', { description: 'no name' }), 400, 'bad-request');
  const badName = await call('POST', '/api/server/instances', { name: 'Has_Underscore' });
  isProblem(t, badName, 400, 'bad-request');
  t.regex(String(badName.body?.detail), /DNS-1123/);
  isProblem(t, await call('POST', '/api/server/instances', { name: 'a'.repeat(41) }), 400, 'bad-request');
  isProblem(t, await call('POST', '/api/server/instances', { name: 'ok', unknownField: 1 }), 400, 'bad-request');
  isProblem(t, await call('POST', '/api/server/instances', { name: 'ok', serverConfiguration: { logLevel: 'loud' } }), 400, 'bad-request');
  isProblem(t, await call('GET', '/api/server/instances/Bad_Id'), 400, 'bad-request');
  isProblem(t, await call('GET', '/api/server/instances/test1/logs?tail=-5'), 400, 'bad-request');
  const list = await call('GET', '/api/server/instances');
  t.deepEqual((list.body as unknown as { id: string }[]).map((i) => i.id), ['test1'], 'nothing else was created');
});

test('404 for unknown instances and routes; 405 for a known path with another method', async (t) => {
  const { call } = await serve(t);
  isProblem(t, await call('GET', '/api/server/instances/ghost'), 404, 'not-found');
  isProblem(t, await call('POST', '/api/server/instances/ghost/start'), 404, 'not-found');
  isProblem(t, await call('DELETE', '/api/server/instances/ghost'), 404, 'not-found');
  isProblem(t, await call('GET', '/api/configuration/instances/ghost'), 404, 'not-found');
  isProblem(t, await call('GET', '/api/status/ghost/status'), 404, 'not-found');
  isProblem(t, await call('GET', '/api/nothing-here'), 404, 'not-found');
  const wrongMethod = await call('PUT', '/api/server/instances');
  isProblem(t, wrongMethod, 405, 'method-not-allowed');
  t.regex(wrongMethod.headers.get('allow') ?? '', /GET/);
});

test('409 names the current state; a taken name is a 409 too', async (t) => {
  const { call } = await serve(t, { http: { acceptStatusReports: true } });
  await call('POST', '/api/server/instances', { name: 'test1' });
  const stop = await call('POST', '/api/server/instances/test1/stop');
  isProblem(t, stop, 409, 'conflict');
  t.is(stop.body?.state, 'Pending');
  isProblem(t, await call('POST', '/api/server/instances/test1/restart'), 409, 'conflict');
  isProblem(t, await call('POST', '/api/server/instances', { name: 'test1' }), 409, 'conflict');
  const report = await call('POST', '/api/status/updates', { instanceId: 'test1', status: 'Running' });
  isProblem(t, report, 409, 'conflict');
});

test('422 for an invalid configuration or patch, and the stored config is unchanged', async (t) => {
  const { call } = await serve(t);
  const invalid = await call('POST', '/api/server/instances', { name: 'bad', configuration: { queries: [{ id: 'q', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'nope' }] }] } });
  isProblem(t, invalid, 422, 'invalid-config');
  t.true(Array.isArray(invalid.body?.issues));
  isProblem(t, await call('GET', '/api/server/instances/bad'), 404, 'not-found');

  await call('POST', '/api/server/instances', { name: 'cfg', configuration: { sources: [{ kind: 'mock', id: 's' }] } });
  const before = await call('GET', '/api/configuration/instances/cfg');
  const patch = await call('PATCH', '/api/configuration/instances/cfg', [{ op: 'add', path: '/log_level', value: 'info' }], { 'content-type': 'application/json-patch+json' });
  isProblem(t, patch, 422, 'invalid-config');
  const failingTest = await call('PATCH', '/api/configuration/instances/cfg', [
    { op: 'replace', path: '/sources/0/id', value: 'renamed' },
    { op: 'test', path: '/sources/0/kind', value: 'postgres' },
  ]);
  isProblem(t, failingTest, 422, 'invalid-config');
  isProblem(t, await call('PATCH', '/api/configuration/instances/cfg', { op: 'add' }), 400, 'bad-request');
  t.deepEqual((await call('GET', '/api/configuration/instances/cfg')).body, before.body);
  const ok = await call('PATCH', '/api/configuration/instances/cfg', [{ op: 'replace', path: '/sources/0/id', value: 'renamed' }]);
  t.is(ok.status, 200);
  t.like(ok.body, { generation: 2, configuration: { sources: [{ id: 'renamed' }] } });
});

test('503 when no worker serves the platform', async (t) => {
  const { call } = await serve(t, { worker: false });
  await call('POST', '/api/server/instances', { name: 'test1' });
  const start = await call('POST', '/api/server/instances/test1/start');
  isProblem(t, start, 503, 'no-live-worker');
  t.is(start.body?.platform, 'process');
  const platforms = await call('GET', '/api/platforms');
  t.like(platforms.body, { platforms: [{ platform: 'process', available: false, reason: 'no worker of this platform is running', workers: [] }] });
  // Never placed on a worker: no server ever wrote a log, so there is nothing to read (and no worker to ask).
  const logs = await call('GET', '/api/server/instances/test1/logs');
  t.is(logs.status, 200);
});

test('504 when the worker does not answer in time', async (t) => {
  const { call, driver } = await serve(t, { startTimeoutMs: 100 });
  driver.startGate = new Promise(() => undefined);
  await call('POST', '/api/server/instances', { name: 'test1' });
  isProblem(t, await call('POST', '/api/server/instances/test1/start'), 504, 'worker-timeout');
});

test('502 with the reason when the workload cannot start', async (t) => {
  const { call, driver } = await serve(t);
  driver.failStartsWith = new WorkloadFailedError('executable not found: /nope/drasi-server', { exitCode: null, lastLogLines: [] });
  await call('POST', '/api/server/instances', { name: 'test1' });
  const start = await call('POST', '/api/server/instances/test1/start');
  isProblem(t, start, 502, 'workload-failed');
  t.regex(String(start.body?.detail), /executable not found: \/nope\/drasi-server/);
  t.is(start.body?.state, 'Failed');
  const status = await call('GET', '/api/status/test1/status');
  t.like(status.body, { status: 'Failed', desiredState: 'Running' });
});

test('health, readiness, platforms, status and recent changes answer with string enums', async (t) => {
  const { call } = await serve(t, { http: { acceptStatusReports: true } });
  t.like((await call('GET', '/healthz')).body, { status: 'ok' });
  t.like((await call('GET', '/readyz')).body, { status: 'ready' });
  const platforms = await call('GET', '/api/platforms');
  t.like(platforms.body, { platforms: [{ platform: 'process', available: true }, { platform: 'docker', available: false }, { platform: 'kubernetes', available: false }] });
  t.false('reason' in (platforms.body as { platforms: object[] }).platforms[0]!, 'an available platform has no reason');
  const replicas = await call('GET', '/api/replicas');
  t.is(replicas.status, 200);
  t.deepEqual(replicas.body, { replicaId: 'embedded', shardCount: 1, replicas: [{ replicaId: 'embedded', alive: true, shards: [0] }], unowned: [] });
  await call('POST', '/api/server/instances', { name: 'test1' });
  await call('POST', '/api/server/instances/test1/start');
  const report = await call('POST', '/api/status/updates', { instanceId: 'test1', status: 'Running', source: 'probe' });
  t.is(report.status, 202);
  const status = await call('GET', '/api/status/test1/status');
  t.like(status.body, { instanceId: 'test1', status: 'Running', desiredState: 'Running', observedState: 'Running' });
  const changes = await call('GET', '/api/status/recent-changes?limit=10');
  const list = changes.body as unknown as { instanceId: string; to: string; sequence: number }[];
  t.deepEqual(list.map((c) => c.to), ['Pending', 'Starting', 'Running']);
  const after = await call('GET', `/api/status/recent-changes?after=${list[1]!.sequence}`);
  t.deepEqual((after.body as unknown as { to: string }[]).map((c) => c.to), ['Running']);
  isProblem(t, await call('GET', '/api/status/recent-changes?limit=zero'), 400, 'bad-request');
});

/** JSON text of `depth` arrays nested in one another (JSON.stringify itself would overflow on such a value). */
function nestedText(depth: number): string {
  return `${'['.repeat(depth)}0${']'.repeat(depth)}`;
}

const cfgDocument = {
  logLevel: 'info',
  sources: [{ kind: 'mock', id: 's', dataType: { type: 'sensorReading' } }],
  queries: [{ id: 'q', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 's' }] }],
};

/** JSON Patches that once answered 500, or were silently applied though RFC 6902 refuses them: [name, body, status, code]. */
const badPatches: Array<[string, unknown, number, string]> = [
  ['move into its own child', [{ op: 'move', from: '/sources', path: '/sources/0' }], 400, 'bad-request'],
  ['move into its own end', [{ op: 'move', from: '/sources', path: '/sources/-' }], 400, 'bad-request'],
  ['move of the whole document', [{ op: 'move', from: '', path: '/x' }], 400, 'bad-request'],
  ['move without from', [{ op: 'move', path: '/x' }], 400, 'bad-request'],
  ['a bad escape', [{ op: 'add', path: '/~2', value: 1 }], 400, 'bad-request'],
  ['a path through __proto__', [{ op: 'add', path: '/__proto__/polluted', value: true }], 400, 'bad-request'],
  ['a value with a __proto__ key', '[{"op": "add", "path": "/sources/0/dataType/x", "value": {"__proto__": {"polluted": true}}}]', 400, 'bad-request'],
  ['a value nested 10,000 deep', `[{"op": "add", "path": "/sources/0/dataType/x", "value": ${nestedText(10_000)}}]`, 400, 'bad-request'],
  ['too many operations', Array.from({ length: 1_001 }, () => ({ op: 'test', path: '/logLevel', value: 'info' })), 400, 'bad-request'],
  ['a copy from an inherited member', [{ op: 'copy', from: '/toString', path: '/x' }], 422, 'invalid-config'],
  ['removing an inherited member', [{ op: 'remove', path: '/toString' }], 422, 'invalid-config'],
  ['a copy of an array length', [{ op: 'copy', from: '/sources/length', path: '/logLevel' }], 422, 'invalid-config'],
  ['an index with a leading zero', [{ op: 'add', path: '/sources/01', value: { kind: 'mock', id: 't' } }], 422, 'invalid-config'],
  ['an empty index', [{ op: 'add', path: '/sources/', value: { kind: 'mock', id: 't' } }], 422, 'invalid-config'],
  ['a path through a string', [{ op: 'add', path: '/logLevel/x', value: 1 }], 422, 'invalid-config'],
  ['a path through "-"', [{ op: 'add', path: '/sources/-/x', value: 1 }], 422, 'invalid-config'],
  ['removing "-"', [{ op: 'remove', path: '/sources/-' }], 422, 'invalid-config'],
  ['removing the whole document', [{ op: 'remove', path: '' }], 422, 'invalid-config'],
  ['a config nested past the limit', [{ op: 'add', path: '/sources/0/dataType/x', value: JSON.parse(nestedText(98)) as unknown }], 422, 'invalid-config'],
  ['copies doubling the config', Array.from({ length: 40 }, (_, i) => ({ op: 'copy', from: '', path: `/sources/0/dataType/c${i}` })), 422, 'invalid-config'],
];

test('every malformed or unfitting JSON Patch is a 4xx problem and changes nothing', async (t) => {
  const { call } = await serve(t);
  await call('POST', '/api/server/instances', { name: 'cfg', configuration: cfgDocument });
  const before = await call('GET', '/api/configuration/instances/cfg');
  t.like(before.body, { generation: 1 });
  for (const [name, body, status, code] of badPatches) {
    const response = await call('PATCH', '/api/configuration/instances/cfg', body, { 'content-type': 'application/json-patch+json' });
    t.is(response.status, status, name);
    isProblem(t, response, status, code);
  }
  t.deepEqual((await call('GET', '/api/configuration/instances/cfg')).body, before.body, 'generation and config as before');
  t.is(({} as Record<string, unknown>)['polluted'], undefined);
});

test('a body nested 10,000 deep is a 400 on every route, and the library API refuses it the same way', async (t) => {
  const { call, controlPlane } = await serve(t, { http: { acceptStatusReports: true } });
  await call('POST', '/api/server/instances', { name: 'cfg', configuration: cfgDocument });
  const before = await call('GET', '/api/configuration/instances/cfg');
  const create = await call('POST', '/api/server/instances', `{"name": "deep", "configuration": {"sources": ${nestedText(10_000)}}}`);
  isProblem(t, create, 400, 'bad-request');
  t.regex(String(create.body?.detail), /nested deeper than 100 levels/);
  isProblem(t, await call('POST', '/api/status/updates', `{"instanceId": "cfg", "status": "Running", "message": ${nestedText(10_000)}}`), 400, 'bad-request');
  isProblem(t, await call('PATCH', '/api/configuration/instances/cfg', `[{"op": "add", "path": "/x", "value": ${nestedText(10_000)}}]`), 400, 'bad-request');

  const deep: unknown = JSON.parse(nestedText(10_000));
  await t.throwsAsync(controlPlane.create({ name: 'deep', configuration: { sources: deep } }), { instanceOf: BadRequestError, message: /nested deeper than 100 levels/ });
  await t.throwsAsync(controlPlane.patchConfig('cfg', [{ op: 'add', path: '/x', value: deep }]), { instanceOf: BadRequestError });
  await t.throwsAsync(controlPlane.reportStatus({ instanceId: 'cfg', status: 'Running', message: deep }), { instanceOf: BadRequestError });
  // Just under the limit is fine as a request, and the config model then judges it.
  const shallow = await call('POST', '/api/server/instances', { name: 'shallow', configuration: { sources: [{ kind: 'mock', id: 's', dataType: { x: JSON.parse(nestedText(90)) as unknown } }] } });
  t.is(shallow.status, 201);

  const list = await call('GET', '/api/server/instances');
  t.deepEqual((list.body as unknown as { id: string }[]).map((i) => i.id), ['cfg', 'shallow']);
  t.deepEqual((await call('GET', '/api/configuration/instances/cfg')).body, before.body);
});

test('an empty patch, a test-only patch and a patch that puts back what it took keep the generation', async (t) => {
  const { call } = await serve(t);
  await call('POST', '/api/server/instances', { name: 'cfg', configuration: cfgDocument });
  const before = await call('GET', '/api/configuration/instances/cfg');
  const patch = (body: unknown) => call('PATCH', '/api/configuration/instances/cfg', body, { 'content-type': 'application/json-patch+json' });
  for (const body of [
    [],
    [{ op: 'test', path: '/logLevel', value: 'info' }],
    [{ op: 'test', path: '/sources/0/id', value: 's' }, { op: 'test', path: '/queries/0/id', value: 'q' }],
    [{ op: 'replace', path: '/logLevel', value: 'info' }],
    [{ op: 'remove', path: '/logLevel' }, { op: 'add', path: '/logLevel', value: 'info' }],
  ]) {
    const response = await patch(body);
    t.is(response.status, 200, JSON.stringify(body));
    t.deepEqual(response.body, before.body, JSON.stringify(body));
  }
  t.deepEqual((await call('GET', '/api/configuration/instances/cfg')).body, before.body);
  const changed = await patch([{ op: 'replace', path: '/logLevel', value: 'debug' }]);
  t.like(changed.body, { generation: 2, configuration: { logLevel: 'debug' } });
  t.like((await patch([])).body, { generation: 2, configuration: { logLevel: 'debug' } });
  t.like((await call('GET', '/api/status/cfg/status')).body, { generation: 2 });
});
