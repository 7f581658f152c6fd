/**
 * The component API client against the real double process (the contract's
 * stand-in): planned calls applied hot leave the server equal to the next
 * config, failures stop the sequence and are classified for the caller
 * (retry, restart with a rendered file, give up), and reads feed drift checks.
 */
import test, { type ExecutionContext } from 'ava';
import { chmodSync } from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import { compareWithServer, planConfigChange, type ComponentCall, type ServerConfigDocument } from '../../src/drasi/component-plan.js';
import { applyComponentCalls, ComponentApiError, readObservedComponents } from '../../src/platforms/component-api.js';
import { launchDouble, type RunningDouble } from '../helpers/drasi-double.js';
import { portPicker } from './_support.js';

const freePort = portPicker(100);
const timing = { timeoutMs: 5_000 };

const running: ServerConfigDocument = {
  id: 'inst-c',
  host: '127.0.0.1',
  sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }],
  queries: [
    { id: 'hot', query: 'MATCH (s) RETURN s', queryLanguage: 'Cypher', autoStart: true, sources: [{ sourceId: 'sensors' }] },
    { id: 'cold', query: 'MATCH (s) RETURN s', sources: [{ sourceId: 'sensors' }] },
  ],
  reactions: [{ kind: 'log', id: 'console', queries: ['hot'] }],
};

/** Touches every step of a plan: a delete, an upsert, a re-created query and its reaction, creates, a start. */
const next: ServerConfigDocument = {
  id: 'inst-c',
  host: '127.0.0.1',
  sources: [
    { kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' }, intervalMs: 250 },
    { kind: 'mock', id: 'doors', password: 'hunter2-secret' },
  ],
  queries: [
    { id: 'hot', query: 'MATCH (s) WHERE s.v > 1 RETURN s', queryLanguage: 'Cypher', autoStart: true, sources: [{ sourceId: 'sensors' }] },
    { id: 'entry', query: 'MATCH (d) RETURN d', autoStart: true, sources: [{ sourceId: 'doors' }] },
  ],
  reactions: [
    { kind: 'log', id: 'console', queries: ['hot'] },
    { kind: 'log', id: 'door-log', queries: ['entry'] },
  ],
};

function hotCalls(from: ServerConfigDocument, to: ServerConfigDocument): ComponentCall[] {
  const plan = planConfigChange(from, to);
  if (plan.kind !== 'hot') throw new Error(`expected a hot plan, got ${plan.kind}`);
  return plan.calls;
}

async function start(t: ExecutionContext, env: Record<string, string> = {}, document: ServerConfigDocument = running): Promise<RunningDouble> {
  return launchDouble(t, { document: { ...document }, env, port: freePort, prefix: 'component-api-' });
}

async function drift(origin: string, desired: ServerConfigDocument) {
  return compareWithServer(desired, await readObservedComponents(origin, { full: true, ...timing }));
}

test('a hot plan applied to a running double leaves it equal to the next config, in the same process', async (t) => {
  const server = await start(t);
  const calls = hotCalls(running, next);
  t.true(calls.some((call) => call.method === 'DELETE') && calls.some((call) => call.method === 'PUT'), 'the plan exercises deletes and upserts');

  const result = await applyComponentCalls(server.origin, calls, timing);
  t.deepEqual(result, { ok: true, applied: calls });

  const report = await drift(server.origin, next);
  t.false(report.drifted, JSON.stringify(report.differences));
  t.deepEqual(report.repair, []);
  t.true(server.lines.some((line) => line.includes(`"pid":${server.pid}`)), 'the double that answers is the one started');
  process.kill(server.pid, 0); // still alive: no restart happened

  const observed = await readObservedComponents(server.origin, { full: true, ...timing });
  t.deepEqual(
    observed.queries.map((query) => [query.id, query.status]).sort(),
    [
      ['entry', 'Running'],
      ['hot', 'Running'],
    ],
  );
  t.like(observed.sources.find((source) => source.id === 'sensors'), { config: { intervalMs: 250 } });
  const plain = await readObservedComponents(server.origin, timing);
  t.true(plain.sources.every((source) => source.config === undefined), 'without full, no config');
});

test('a failing call stops the sequence there; the earlier calls are applied', async (t) => {
  const server = await start(t, { DRASI_DOUBLE_FAIL_COMPONENT_CALLS: 'entry' });
  const calls = hotCalls(running, next);
  const at = calls.findIndex((call) => call.component.id === 'entry');
  t.true(at > 0);

  const result = await applyComponentCalls(server.origin, calls, timing);
  if (result.ok) return t.fail('expected a failure');
  t.deepEqual(result.applied, calls.slice(0, at));
  t.is(result.failed.call, calls[at]!);
  t.like(result.failed, { status: 500, code: 'INTERNAL_ERROR', retryable: false, readOnlyConfig: false });
  t.is(result.failed.message, 'POST /api/v1/queries (query "entry"): 500 INTERNAL_ERROR Internal server error');
  t.false(result.failed.message.includes('MATCH'), 'no body in the message');

  const observed = await readObservedComponents(server.origin, timing);
  t.deepEqual(
    observed.sources.map((source) => source.id),
    ['sensors', 'doors'],
    'the source created before the failure is there',
  );
  t.false(
    observed.reactions.some((reaction) => reaction.id === 'door-log'),
    'nothing after the failure was attempted',
  );
});

test('a failed call with a secret in its body does not echo the body', async (t) => {
  const server = await start(t, { DRASI_DOUBLE_FAIL_COMPONENT_CALLS: 'doors' });
  const result = await applyComponentCalls(server.origin, hotCalls(running, next), timing);
  if (result.ok) return t.fail('expected a failure');
  t.is(result.failed.message, 'POST /api/v1/sources (source "doors"): 500 INTERNAL_ERROR Internal server error');
  t.false(result.failed.message.includes('hunter2'));
});

test('a read-only config file: 409 CONFIG_READ_ONLY is reported as readOnlyConfig', async (t) => {
  const server = await start(t);
  chmodSync(server.file, 0o444);
  const calls = hotCalls(running, next);
  const result = await applyComponentCalls(server.origin, calls, timing);
  if (result.ok) return t.fail('expected a failure');
  t.deepEqual(result.applied, []);
  t.like(result.failed, { status: 409, code: 'CONFIG_READ_ONLY', readOnlyConfig: true, retryable: false });
  t.regex(result.failed.message, /^DELETE \/api\/v1\/reactions\/console \(reaction "console"\): 409 CONFIG_READ_ONLY /);
});

test('the server gone: no status, retryable; reads throw a ComponentApiError', async (t) => {
  const server = await start(t);
  await server.kill();
  const calls = hotCalls(running, next);
  const result = await applyComponentCalls(server.origin, calls, timing);
  if (result.ok) return t.fail('expected a failure');
  t.deepEqual(result.applied, []);
  t.like(result.failed, { status: null, code: null, retryable: true, readOnlyConfig: false });
  t.regex(result.failed.message, /^DELETE \/api\/v1\/reactions\/console \(reaction "console"\): connection failed \(ECONNREFUSED\)$/);

  const error = await t.throwsAsync(readObservedComponents(server.origin, timing), { instanceOf: ComponentApiError });
  t.like(error, { status: null, code: null, retryable: true, method: 'GET', path: '/api/v1/sources' });
});

/** A server that accepts connections and never answers. */
async function silentServer(t: ExecutionContext): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

test('a server that does not answer: each call times out, retryable', async (t) => {
  const origin = await silentServer(t);
  const calls = hotCalls(running, next);
  const began = Date.now();
  const result = await applyComponentCalls(origin, calls, { timeoutMs: 300 });
  if (result.ok) return t.fail('expected a failure');
  t.true(Date.now() - began < 3_000, 'stopped at the first timeout');
  t.like(result.failed, { status: null, code: null, retryable: true, readOnlyConfig: false });
  t.is(result.failed.call, calls[0]!);
  t.regex(result.failed.message, /\): no answer within 300 ms$/);

  const error = await t.throwsAsync(readObservedComponents(origin, { timeoutMs: 200 }), { instanceOf: ComponentApiError });
  t.regex(error.message, /^GET \/api\/v1\/sources: no answer within 200 ms$/);
});

test('an abort through the signal stops the sequence at once', async (t) => {
  const origin = await silentServer(t);
  const calls = hotCalls(running, next);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const began = Date.now();
  const result = await applyComponentCalls(origin, calls, { timeoutMs: 10_000, signal: controller.signal });
  if (result.ok) return t.fail('expected a failure');
  t.true(Date.now() - began < 5_000, 'did not wait for the timeout');
  t.like(result.failed, { status: null, code: null });
  t.regex(result.failed.message, /: aborted$/);

  const again = await applyComponentCalls(origin, calls, { timeoutMs: 10_000, signal: controller.signal });
  t.like(again, { ok: false, applied: [] }, 'an aborted signal sends nothing');
  await t.throwsAsync(readObservedComponents(origin, { timeoutMs: 10_000, signal: controller.signal }), { instanceOf: ComponentApiError, message: /aborted/ });
});

test('drift: a query deleted on the server is reported missing and the repair puts it back', async (t) => {
  const server = await start(t);
  const deleted = await fetch(`${server.origin}/api/v1/queries/cold`, { method: 'DELETE' });
  t.is(deleted.status, 200);

  const report = await drift(server.origin, running);
  t.true(report.drifted);
  t.deepEqual(
    report.differences.map((difference) => [difference.type, difference.component.id]),
    [['missing', 'cold']],
  );
  t.true(report.repair.length > 0);

  t.like(await applyComponentCalls(server.origin, report.repair, timing), { ok: true });
  const after = await drift(server.origin, running);
  t.false(after.drifted, JSON.stringify(after.differences));
});

test('a 200 without the success envelope is a failure that says so', async (t) => {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ sources: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') return t.fail('no port');
  const origin = `http://127.0.0.1:${address.port}`;
  const calls = hotCalls(running, next);
  const result = await applyComponentCalls(origin, calls, timing);
  if (result.ok) return t.fail('expected a failure');
  t.like(result.failed, { status: 200, code: null, retryable: false });
  t.regex(result.failed.message, /^DELETE \/api\/v1\/reactions\/console \(reaction "console"\): 200 but the body is not a success envelope/);
  await t.throwsAsync(readObservedComponents(origin, timing), { instanceOf: ComponentApiError, message: /not a success envelope/ });
});

test('a component gone between the list and its full read is kept without config', async (t) => {
  // A stand-in that lists two sources but has only one by the time it is read in full.
  const server = createServer((request, response) => {
    const url = request.url ?? '';
    const send = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (url === '/api/v1/sources') send(200, { success: true, data: [{ id: 'kept', status: 'Running' }, { id: 'gone', status: 'Running' }], error: null });
    else if (url === '/api/v1/sources/kept?view=full') send(200, { success: true, data: { id: 'kept', status: 'Running', config: { kind: 'mock', id: 'kept' } }, error: null });
    else if (url.startsWith('/api/v1/sources/')) send(404, { code: 'SOURCE_NOT_FOUND', message: 'Source not found' });
    else send(200, { success: true, data: [], error: null });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') return t.fail('no port');
  const observed = await readObservedComponents(`http://127.0.0.1:${address.port}`, { full: true, ...timing });
  t.deepEqual(observed, {
    sources: [
      { id: 'kept', status: 'Running', config: { kind: 'mock', id: 'kept' } },
      { id: 'gone', status: 'Running' },
    ],
    queries: [],
    reactions: [],
  });
});
