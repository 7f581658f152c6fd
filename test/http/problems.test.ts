/**
 * Every error status of the REST API, over real HTTP, each with a
 * problem+json body. Uses the in-memory driver: these are about the API, not
 * about processes (the end-to-end suite covers those).
 */
import test from 'ava';
import { WorkloadFailedError } from '../../src/errors.js';
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
  const { call } = await serve(t);
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
  t.like(platforms.body, { platforms: [{ platform: 'process', available: false, workers: [] }] });
  isProblem(t, await call('GET', '/api/server/instances/test1/logs'), 503, 'no-live-worker');
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
  const { call } = await serve(t);
  t.like((await call('GET', '/healthz')).body, { status: 'ok' });
  t.like((await call('GET', '/readyz')).body, { status: 'ready' });
  const platforms = await call('GET', '/api/platforms');
  t.like(platforms.body, { platforms: [{ platform: 'process', available: true }, { platform: 'docker', available: false }, { platform: 'kubernetes', available: false }] });
  const replicas = await call('GET', '/api/replicas');
  t.is(replicas.status, 200);
  t.deepEqual(replicas.body, { replicaId: 'embedded', shardCount: 1, replicas: [{ replicaId: 'embedded', shards: [0] }], unowned: [] });
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
