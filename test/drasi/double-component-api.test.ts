/**
 * The Drasi Server double serves the component API the way the contract
 * describes the real server (/work/shared/drasi-server-contract.md, "HTTP API
 * of a running server"): hot-apply code is tested against it, so its status
 * codes, envelopes, dependency rules and config persistence must hold. Each
 * test runs the double as a real child process and talks to it over HTTP.
 */
import test, { type ExecutionContext } from 'ava';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import YAML from 'yaml';
import { launchDouble } from '../helpers/drasi-double.js';
import { delay, portPicker } from '../platforms/_support.js';

const freePort = portPicker(200);

interface Double {
  base: string;
  file: string;
  dir: string;
  lines: string[];
}

const pipeline = {
  sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }],
  queries: [
    { id: 'hot', query: 'MATCH (s) RETURN s', queryLanguage: 'Cypher', autoStart: true, sources: [{ sourceId: 'sensors' }] },
    { id: 'cold', query: 'MATCH (s) RETURN s', sources: [{ sourceId: 'sensors' }] },
  ],
  reactions: [{ kind: 'log', id: 'console', queries: ['hot'] }],
};

/** Starts the double on `config` (plus id and host) and resolves once it serves. */
async function startDouble(t: ExecutionContext, config: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<Double> {
  const document = { id: 'inst-a', host: '127.0.0.1', ...pipeline, ...config };
  const { origin, file, dir, lines } = await launchDouble(t, { document, env, port: freePort, prefix: 'double-api-' });
  return { base: `${origin}/api/v1`, file, dir, lines };
}

interface Answer {
  status: number;
  body: any; // bodies are checked field by field
}

async function call(method: string, url: string, body?: unknown, contentType = 'application/json'): Promise<Answer> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': contentType };
  }
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json() };
}

function ok(t: ExecutionContext, answer: Answer, what: string): void {
  t.is(answer.status, 200, `${what}: ${JSON.stringify(answer.body)}`);
  t.like(answer.body, { success: true, error: null }, what);
}

function failed(t: ExecutionContext, answer: Answer, status: number, code: string, what: string): void {
  t.is(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
  t.is(answer.body.code, code, what);
  t.is(typeof answer.body.message, 'string', what);
  t.false('success' in answer.body, `${what}: errors are not wrapped`);
}

async function statuses(base: string, kind: string): Promise<Record<string, string>> {
  const { body } = await call('GET', `${base}/${kind}`);
  return Object.fromEntries((body.data as Array<{ id: string; status: string }>).map((each) => [each.id, each.status]));
}

function persisted(file: string): Record<string, Array<Record<string, unknown>>> {
  return YAML.parse(readFileSync(file, 'utf8')) as Record<string, Array<Record<string, unknown>>>;
}

const ids = (list: Array<Record<string, unknown>> | undefined) => (list ?? []).map((each) => each.id);

test('lists and gets components with links; ?view=full adds the config; 404s by kind', async (t) => {
  const { base } = await startDouble(t);
  const sources = await call('GET', `${base}/sources`);
  t.deepEqual(sources.body, {
    success: true,
    data: [{ id: 'sensors', status: 'Running', links: { self: '/api/v1/sources/sensors', full: '/api/v1/sources/sensors?view=full' } }],
    error: null,
  });
  t.deepEqual(await statuses(base, 'queries'), { hot: 'Running', cold: 'Stopped' });
  t.deepEqual(await statuses(base, 'reactions'), { console: 'Running' });

  const one = await call('GET', `${base}/queries/hot`);
  ok(t, one, 'get one');
  t.deepEqual(one.body.data, { id: 'hot', status: 'Running', links: { self: '/api/v1/queries/hot', full: '/api/v1/queries/hot?view=full' } });
  const full = await call('GET', `${base}/queries/hot?view=full`);
  t.like(full.body.data, { id: 'hot', config: { query: 'MATCH (s) RETURN s', sources: [{ sourceId: 'sensors' }] } });
  t.false('error_message' in full.body.data, 'error_message only on Error');

  failed(t, await call('GET', `${base}/sources/nope`), 404, 'SOURCE_NOT_FOUND', 'missing source');
  failed(t, await call('GET', `${base}/queries/nope`), 404, 'QUERY_NOT_FOUND', 'missing query');
  failed(t, await call('GET', `${base}/reactions/nope`), 404, 'REACTION_NOT_FOUND', 'missing reaction');
});

test('the same API under /api/v1/instances/{id}; another instance id is 404', async (t) => {
  const { base } = await startDouble(t);
  const scoped = `${base}/instances/inst-a`;
  const list = await call('GET', `${scoped}/sources`);
  ok(t, list, 'scoped list');
  t.deepEqual(list.body.data[0].links, { self: '/api/v1/instances/inst-a/sources/sensors', full: '/api/v1/instances/inst-a/sources/sensors?view=full' });
  ok(t, await call('POST', `${scoped}/sources`, { kind: 'mock', id: 'scoped' }), 'scoped create');
  t.is((await statuses(base, 'sources')).scoped, 'Running', 'the scoped create is the default instance');
  ok(t, await call('POST', `${scoped}/queries/cold/start`), 'scoped start');
  ok(t, await call('GET', `${scoped}/queries/cold/results`), 'scoped results');

  for (const [method, suffix] of [
    ['GET', 'sources'],
    ['GET', 'queries/hot'],
    ['POST', 'sources'],
    ['DELETE', 'reactions/console'],
  ] as const) {
    const answer = await call(method, `${base}/instances/inst-b/${suffix}`, method === 'POST' ? { kind: 'mock', id: 'x' } : undefined);
    t.is(answer.status, 404, `${method} ${suffix} of another instance`);
  }
  t.deepEqual(await statuses(base, 'reactions'), { console: 'Running' }, 'nothing deleted through the wrong instance');
});

test('create: autoStart rules, JSON or YAML bodies, duplicates, unknown kinds, missing sources, invalid bodies', async (t) => {
  const { base, lines } = await startDouble(t);
  const created = await call('POST', `${base}/sources`, { kind: 'mock', id: 'more' });
  ok(t, created, 'create a source');
  t.deepEqual(Object.keys(created.body.data), ['message']);
  ok(t, await call('POST', `${base}/sources`, { kind: 'postgres', id: 'idle', autoStart: false, host: 'db' }), 'a source that does not start');
  ok(t, await call('POST', `${base}/queries`, 'id: lazy\nquery: MATCH (n) RETURN n\nsources: [{sourceId: more}]\n', 'application/yaml'), 'YAML query');
  ok(t, await call('POST', `${base}/queries`, { id: 'eager', query: 'MATCH (n) RETURN n', autoStart: true, sources: [{ sourceId: 'more' }] }), 'eager query');
  ok(t, await call('POST', `${base}/reactions`, { kind: 'sse', id: 'push', queries: ['eager'] }), 'a reaction');
  ok(t, await call('POST', `${base}/reactions`, { kind: 'log', id: 'quiet', queries: ['lazy'], autoStart: false }), 'a stopped reaction');
  t.like(await statuses(base, 'sources'), { more: 'Running', idle: 'Stopped' });
  t.like(await statuses(base, 'queries'), { lazy: 'Stopped', eager: 'Running' }, 'a created query starts only with autoStart: true');
  t.like(await statuses(base, 'reactions'), { push: 'Running', quiet: 'Stopped' });

  failed(t, await call('POST', `${base}/sources`, { kind: 'mock', id: 'sensors' }), 409, 'DUPLICATE_RESOURCE', 'duplicate source');
  failed(t, await call('POST', `${base}/queries`, { id: 'hot', query: 'x', sources: [] }), 409, 'DUPLICATE_RESOURCE', 'duplicate query');
  failed(t, await call('POST', `${base}/sources`, { kind: 'carrier-pigeon', id: 'bird' }), 500, 'SOURCE_CREATE_FAILED', 'unknown source kind');
  failed(t, await call('POST', `${base}/reactions`, { kind: 'fax', id: 'paper', queries: ['hot'] }), 500, 'REACTION_CREATE_FAILED', 'unknown reaction kind');
  const orphan = await call('POST', `${base}/queries`, { id: 'orphan', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'absent' }] });
  failed(t, orphan, 500, 'INTERNAL_ERROR', 'query on a missing source');
  t.is(orphan.body.message, 'Internal server error');
  // Not in the contract; the double treats a reaction on a missing query like a query on a missing source.
  failed(t, await call('POST', `${base}/reactions`, { kind: 'log', id: 'lost', queries: ['absent'] }), 500, 'INTERNAL_ERROR', 'reaction on a missing query');
  failed(t, await call('POST', `${base}/queries`, { id: 'snake', query: 'x', auto_start: true }), 400, 'INVALID_REQUEST', 'snake_case key');
  failed(t, await call('POST', `${base}/sources`, { kind: 'mock' }), 400, 'INVALID_REQUEST', 'no id');
  failed(t, await call('POST', `${base}/sources`, '{not json'), 400, 'INVALID_REQUEST', 'bad JSON');

  t.deepEqual(Object.keys(await statuses(base, 'sources')), ['sensors', 'more', 'idle'], 'failed creates added nothing');
  t.deepEqual(Object.keys(await statuses(base, 'queries')), ['hot', 'cold', 'lazy', 'eager']);
  t.true(lines.some((line) => /INFO drasi_server::api: POST \/api\/v1\/queries eager → 200$/.test(line)), 'every call is logged');
  t.true(lines.some((line) => /INFO drasi_server::api: POST \/api\/v1\/sources bird → 500$/.test(line)));
});

test('upsert: sources and reactions only, the body id must match the path', async (t) => {
  const { base, lines } = await startDouble(t);
  ok(t, await call('PUT', `${base}/sources/sensors`, { kind: 'mock', id: 'sensors', intervalMs: 50, autoStart: false }), 'replace a source');
  const replaced = await call('GET', `${base}/sources/sensors?view=full`);
  t.like(replaced.body.data, { status: 'Stopped', config: { intervalMs: 50 } });
  ok(t, await call('PUT', `${base}/sources/fresh`, { kind: 'mock', id: 'fresh' }), 'upsert creates');
  t.is((await statuses(base, 'sources')).fresh, 'Running');
  ok(t, await call('PUT', `${base}/reactions/console`, { kind: 'log', id: 'console', queries: ['hot', 'cold'] }), 'replace a reaction');

  failed(t, await call('PUT', `${base}/sources/sensors`, { kind: 'mock', id: 'other' }), 400, 'INVALID_REQUEST', 'id mismatch');
  failed(t, await call('PUT', `${base}/reactions/console`, { kind: 'log', queries: ['hot'] }), 400, 'INVALID_REQUEST', 'no id');
  failed(t, await call('PUT', `${base}/reactions/console`, { kind: 'fax', id: 'console', queries: ['hot'] }), 500, 'REACTION_CREATE_FAILED', 'unknown kind');
  const put = await call('PUT', `${base}/queries/hot`, { id: 'hot', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'sensors' }] });
  failed(t, put, 405, 'METHOD_NOT_ALLOWED', 'no PUT for queries');
  t.like((await call('GET', `${base}/queries/hot?view=full`)).body.data, { status: 'Running', config: { query: 'MATCH (s) RETURN s' } }, 'the query is unchanged');
  t.true(lines.some((line) => /PUT \/api\/v1\/queries\/hot hot → 405$/.test(line)));
});

test('delete: dependents block it, a missing id is a 500, then it removes in dependency order', async (t) => {
  const { base } = await startDouble(t);
  const blocked = await call('DELETE', `${base}/sources/sensors`);
  failed(t, blocked, 500, 'SOURCE_DELETE_FAILED', 'source with queries');
  t.regex(blocked.body.message, /Depended on by: hot, cold/);
  const query = await call('DELETE', `${base}/queries/hot`);
  failed(t, query, 500, 'QUERY_DELETE_FAILED', 'query with a reaction');
  t.regex(query.body.message, /Depended on by: console/);
  failed(t, await call('DELETE', `${base}/reactions/nope`), 500, 'REACTION_DELETE_FAILED', 'missing reaction');
  failed(t, await call('DELETE', `${base}/queries/nope`), 500, 'QUERY_DELETE_FAILED', 'missing query');
  failed(t, await call('DELETE', `${base}/sources/nope`), 500, 'SOURCE_DELETE_FAILED', 'missing source');

  for (const target of ['reactions/console', 'queries/hot', 'queries/cold', 'sources/sensors']) {
    const deleted = await call('DELETE', `${base}/${target}`);
    ok(t, deleted, `delete ${target}`);
    t.is(typeof deleted.body.data.message, 'string');
  }
  for (const kind of ['sources', 'queries', 'reactions']) t.deepEqual(await statuses(base, kind), {}, kind);
});

test('start, stop and results', async (t) => {
  const { base } = await startDouble(t);
  failed(t, await call('GET', `${base}/queries/cold/results`), 400, 'INVALID_REQUEST', 'results of a stopped query');
  failed(t, await call('GET', `${base}/queries/nope/results`), 404, 'QUERY_NOT_FOUND', 'results of a missing query');
  const started = await call('POST', `${base}/queries/cold/start`);
  ok(t, started, 'start');
  t.deepEqual(Object.keys(started.body.data), ['message']);
  t.is((await statuses(base, 'queries')).cold, 'Running');
  t.deepEqual((await call('GET', `${base}/queries/cold/results`)).body, { success: true, data: [], error: null });
  ok(t, await call('POST', `${base}/queries/cold/stop`), 'stop');
  failed(t, await call('GET', `${base}/queries/cold/results`), 400, 'INVALID_REQUEST', 'stopped again');
  ok(t, await call('POST', `${base}/sources/sensors/stop`), 'stop a source');
  ok(t, await call('POST', `${base}/reactions/console/stop`), 'stop a reaction');
  t.deepEqual(await statuses(base, 'sources'), { sensors: 'Stopped' });
  t.deepEqual(await statuses(base, 'reactions'), { console: 'Stopped' });
  failed(t, await call('POST', `${base}/reactions/nope/start`), 404, 'REACTION_NOT_FOUND', 'start a missing reaction');
});

test('with persistConfig (the default) the config file holds the components after each change', async (t) => {
  const { base, file, dir } = await startDouble(t, { logLevel: 'warn' });
  ok(t, await call('POST', `${base}/sources`, { kind: 'mock', id: 'more', intervalMs: 10 }), 'create');
  t.deepEqual(ids(persisted(file).sources), ['sensors', 'more']);
  ok(t, await call('POST', `${base}/queries`, { id: 'extra', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'more' }] }), 'create a query');
  ok(t, await call('PUT', `${base}/reactions/console`, { kind: 'log', id: 'console', queries: ['hot', 'extra'] }), 'upsert');
  ok(t, await call('DELETE', `${base}/queries/cold`), 'delete');
  const file1 = persisted(file);
  t.like(file1, { id: 'inst-a', host: '127.0.0.1', logLevel: 'warn' }, 'the other settings are kept');
  t.deepEqual(ids(file1.queries), ['hot', 'extra']);
  t.deepEqual(file1.reactions, [{ kind: 'log', id: 'console', queries: ['hot', 'extra'] }]);
  t.deepEqual(file1.sources?.[1], { kind: 'mock', id: 'more', intervalMs: 10 });
  const before = readFileSync(file, 'utf8');
  ok(t, await call('POST', `${base}/queries/extra/start`), 'start');
  t.is(readFileSync(file, 'utf8'), before, 'start and stop do not rewrite the file');
  t.deepEqual(readdirSync(dir), ['server.yaml'], 'no temp file is left behind');
});

test('a read-only config answers 409 CONFIG_READ_ONLY to changes and changes nothing; start and stop still work', async (t) => {
  const { base, file, dir } = await startDouble(t);
  const before = readFileSync(file, 'utf8');
  const attempts = async (what: string) => {
    failed(t, await call('POST', `${base}/sources`, { kind: 'mock', id: 'more' }), 409, 'CONFIG_READ_ONLY', `${what}: create`);
    failed(t, await call('PUT', `${base}/sources/sensors`, { kind: 'mock', id: 'sensors', autoStart: false }), 409, 'CONFIG_READ_ONLY', `${what}: upsert`);
    failed(t, await call('DELETE', `${base}/reactions/console`), 409, 'CONFIG_READ_ONLY', `${what}: delete`);
    t.deepEqual(await statuses(base, 'sources'), { sensors: 'Running' }, `${what}: no source added or changed`);
    t.deepEqual(await statuses(base, 'reactions'), { console: 'Running' }, `${what}: nothing deleted`);
    t.is(readFileSync(file, 'utf8'), before, `${what}: the file is unchanged`);
  };

  chmodSync(file, 0o444);
  await attempts('read-only file');
  ok(t, await call('POST', `${base}/queries/cold/start`), 'start works');
  ok(t, await call('POST', `${base}/reactions/console/stop`), 'stop works');
  t.is((await statuses(base, 'queries')).cold, 'Running');
  ok(t, await call('POST', `${base}/reactions/console/start`), 'start again');

  chmodSync(file, 0o644);
  chmodSync(dir, 0o555);
  t.teardown(() => chmodSync(dir, 0o755));
  await attempts('read-only directory');

  chmodSync(dir, 0o755);
  ok(t, await call('POST', `${base}/sources`, { kind: 'mock', id: 'more' }), 'writable again');
  t.deepEqual(ids(persisted(file).sources), ['sensors', 'more']);
  t.is(statSync(file).isFile(), true);
});

test('persistConfig: false never writes the file', async (t) => {
  const { base, file } = await startDouble(t, { persistConfig: false });
  const before = readFileSync(file, 'utf8');
  const mtime = statSync(file).mtimeMs;
  await delay(20);
  ok(t, await call('POST', `${base}/sources`, { kind: 'mock', id: 'more' }), 'create');
  ok(t, await call('PUT', `${base}/sources/more`, { kind: 'mock', id: 'more', intervalMs: 5 }), 'upsert');
  ok(t, await call('DELETE', `${base}/reactions/console`), 'delete');
  t.deepEqual(Object.keys(await statuses(base, 'sources')), ['sensors', 'more'], 'the running server changed');
  t.is(readFileSync(file, 'utf8'), before);
  t.is(statSync(file).mtimeMs, mtime);

  chmodSync(file, 0o444);
  ok(t, await call('POST', `${base}/sources`, { kind: 'mock', id: 'third' }), 'a read-only file does not matter when nothing is persisted');
});

test('DRASI_DOUBLE_FAIL_COMPONENT_CALLS fails creates, upserts and deletes of matching ids with 500 INTERNAL_ERROR', async (t) => {
  const { base, file, lines } = await startDouble(t, {}, { DRASI_DOUBLE_FAIL_COMPONENT_CALLS: 'doomed' });
  const before = readFileSync(file, 'utf8');
  const create = await call('POST', `${base}/sources`, { kind: 'mock', id: 'doomed-source' });
  failed(t, create, 500, 'INTERNAL_ERROR', 'create');
  t.is(create.body.message, 'Internal server error');
  failed(t, await call('PUT', `${base}/sources/the-doomed`, { kind: 'mock', id: 'the-doomed' }), 500, 'INTERNAL_ERROR', 'upsert');
  failed(t, await call('POST', `${base}/queries`, { id: 'doomed', query: 'x', sources: [{ sourceId: 'sensors' }] }), 500, 'INTERNAL_ERROR', 'query');
  t.deepEqual(Object.keys(await statuses(base, 'sources')), ['sensors']);
  t.is(readFileSync(file, 'utf8'), before, 'nothing persisted');

  ok(t, await call('POST', `${base}/sources`, { kind: 'mock', id: 'fine' }), 'other ids work');
  ok(t, await call('POST', `${base}/queries/cold/start`), 'start is not affected');
  t.true(lines.some((line) => /INFO drasi_server::api: POST \/api\/v1\/sources doomed-source → 500$/.test(line)));
  t.true(lines.some((line) => /INFO drasi_server::api: POST \/api\/v1\/sources fine → 200$/.test(line)));
  t.true(lines.some((line) => /INFO drasi_server::api: PUT \/api\/v1\/sources\/the-doomed the-doomed → 500$/.test(line)));
});

test('a failed delete through the knob leaves the component', async (t) => {
  const { base } = await startDouble(t, { reactions: [{ kind: 'log', id: 'doomed-log', queries: ['hot'] }] }, { DRASI_DOUBLE_FAIL_COMPONENT_CALLS: 'doomed' });
  failed(t, await call('DELETE', `${base}/reactions/doomed-log`), 500, 'INTERNAL_ERROR', 'delete');
  t.deepEqual(await statuses(base, 'reactions'), { 'doomed-log': 'Running' });
});

test('components read from `instances` are persisted back in their place; new ones go to the top level', async (t) => {
  const { base, file } = await startDouble(t, {
    ...{ sources: [], queries: [], reactions: [] },
    instances: [{ id: 'inner', sources: [{ kind: 'mock', id: 'nested' }], queries: [{ id: 'nq', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'nested' }] }] }],
  });
  t.deepEqual(await statuses(base, 'sources'), { nested: 'Running' });
  ok(t, await call('DELETE', `${base}/queries/nq`), 'delete a nested query');
  ok(t, await call('PUT', `${base}/sources/nested`, { kind: 'mock', id: 'nested', intervalMs: 7 }), 'upsert a nested source');
  ok(t, await call('POST', `${base}/sources`, { kind: 'mock', id: 'top' }), 'create');
  const written = persisted(file) as unknown as { sources: unknown[]; instances: Array<Record<string, unknown>> };
  t.deepEqual(ids(written.sources as Array<Record<string, unknown>>), ['top']);
  t.deepEqual(written.instances, [{ id: 'inner', sources: [{ kind: 'mock', id: 'nested', intervalMs: 7 }], queries: [] }]);
});
