/**
 * What keeps a reachable API from being a way in for a web page: a mutation
 * needs a JSON body type (a form or text/plain body — what a page may send
 * cross-origin without a preflight — is 415), a Host the server does not
 * answer for is 421 (DNS rebinding), a foreign browser Origin is 403 (CORS is
 * off unless origins are listed), and a body over the limit is 413. Every
 * refusal is a problem+json answer and leaves the instances untouched.
 */
import test, { type ExecutionContext } from 'ava';
import { createHttpApp, type HttpAppOptions } from '../../src/http/app.js';
import { memoryControlPlane, serve, type Call } from '../helpers/memory-api.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';

function isProblem(t: ExecutionContext, response: RawResponse, status: number, code: string, detail?: RegExp): void {
  t.is(response.status, status, response.text);
  t.regex(String(response.headers['content-type']), /^application\/problem\+json/);
  t.like(response.json, { status, type: `urn:draas:problem:${code}` });
  if (detail) t.regex(String(response.json?.detail), detail);
}

const json = { 'content-type': 'application/json' };

/** A served control plane with one Pending instance "x". */
async function withInstance(t: ExecutionContext, http: HttpAppOptions = {}) {
  const served = await serve(t, { http });
  t.is((await served.call('POST', '/api/server/instances', { name: 'x' })).status, 201);
  const port = new URL(served.base).port;
  return { ...served, port };
}

async function statusOf(call: Call, id: string): Promise<unknown> {
  return (await call('GET', `/api/server/instances/${id}`)).body?.status;
}

test('a text/plain POST to start is 415 and starts nothing', async (t) => {
  const { base, call, driver } = await withInstance(t);
  const response = await rawRequest(base, { method: 'POST', path: '/api/server/instances/x/start', headers: { 'content-type': 'text/plain' }, body: '{}' });
  isProblem(t, response, 415, 'unsupported-media-type', /text\/plain/);
  t.is(await statusOf(call, 'x'), 'Pending');
  t.deepEqual(driver.calls.filter((c) => c.op === 'start'), []);
  // A JSON body sent as text/plain (what a page may send without a preflight) is 415 on create too, not a 400.
  const create = await rawRequest(base, { method: 'POST', path: '/api/server/instances', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: '{"name":"y"}' });
  isProblem(t, create, 415, 'unsupported-media-type', /application\/json/);
});

test('form and multipart bodies are 415 on every mutating method, and change nothing', async (t) => {
  const { base, call } = await withInstance(t, { acceptStatusReports: true });
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const multipart = { 'content-type': 'multipart/form-data; boundary=b' };
  const requests: [string, string, Record<string, string>, string][] = [
    ['POST', '/api/server/instances', form, 'name=y'],
    ['POST', '/api/server/instances/x/start', form, ''],
    ['POST', '/api/server/instances/x/stop', multipart, '--b--\r\n'],
    ['DELETE', '/api/server/instances/x', form, 'a=1'],
    ['PATCH', '/api/configuration/instances/x', form, 'op=add'],
    ['PUT', '/api/server/instances/x', form, 'a=1'],
    ['POST', '/api/status/updates', form, 'instanceId=x&status=Failed'],
    ['POST', '/api/server/instances/x/start', { 'content-type': 'text/plain' }, ''],
  ];
  for (const [method, path, headers, body] of requests) {
    isProblem(t, await rawRequest(base, { method, path, headers, body }), 415, 'unsupported-media-type');
  }
  t.is(await statusOf(call, 'x'), 'Pending');
  t.deepEqual((await call('GET', '/api/server/instances')).body, [(await call('GET', '/api/server/instances/x')).body]);
});

test('a body needs a Content-Type; a POST without a body needs none', async (t) => {
  const { base, call } = await withInstance(t);
  isProblem(t, await rawRequest(base, { method: 'POST', path: '/api/server/instances', body: '{"name":"y"}' }), 415, 'unsupported-media-type', /Content-Type/);
  isProblem(t, await rawRequest(base, { method: 'POST', path: '/api/server/instances/x/start', headers: { 'transfer-encoding': 'chunked' }, body: '{}' }), 415, 'unsupported-media-type');
  const start = await rawRequest(base, { method: 'POST', path: '/api/server/instances/x/start' });
  t.is(start.status, 200, start.text);
  t.is(await statusOf(call, 'x'), 'Running');
  // application/json with no body (what some clients send) is fine too.
  t.is((await rawRequest(base, { method: 'POST', path: '/api/server/instances/x/stop', headers: json })).status, 200);
});

test('a JSON Patch may be application/json-patch+json or application/json; nothing else takes json-patch+json', async (t) => {
  const { base, call } = await withInstance(t);
  const patch = JSON.stringify([{ op: 'add', path: '/sources', value: [] }]);
  const path = '/api/configuration/instances/x';
  t.is((await rawRequest(base, { method: 'PATCH', path, headers: { 'content-type': 'application/json-patch+json' }, body: patch })).status, 200);
  t.is((await rawRequest(base, { method: 'PATCH', path, headers: { 'content-type': 'application/json; charset=utf-8' }, body: patch })).status, 200);
  isProblem(
    t,
    await rawRequest(base, { method: 'POST', path: '/api/server/instances', headers: { 'content-type': 'application/json-patch+json' }, body: '{"name":"y"}' }),
    415,
    'unsupported-media-type',
  );
  t.is((await call('GET', '/api/server/instances/y')).status, 404);
});

test('a Host the server does not answer for is 421 and nothing is done (DNS rebinding)', async (t) => {
  const { base, call, port } = await withInstance(t);
  const create = (host: string) =>
    rawRequest(base, { method: 'POST', path: '/api/server/instances', headers: { ...json, host }, body: JSON.stringify({ name: `h${Math.random().toString(36).slice(2, 8)}` }) });
  isProblem(t, await create(`evil.example:${port}`), 421, 'host-not-allowed', /evil\.example/);
  isProblem(t, await rawRequest(base, { method: 'GET', path: '/api/server/instances', headers: { host: `rebind.example:${port}` } }), 421, 'host-not-allowed', /--allowed-hosts/);
  isProblem(t, await rawRequest(base, { method: 'POST', path: '/api/server/instances/x/start', headers: { host: 'evil.example' } }), 421, 'host-not-allowed');
  t.is(await statusOf(call, 'x'), 'Pending');
  t.is(((await call('GET', '/api/server/instances')).body as unknown as unknown[]).length, 1, 'nothing created');
  // Loopback names and IP literals cannot be pointed at this server by someone else: always served.
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST', `10.1.2.3:${port}`, `[fe80::1]`]) {
    t.is((await create(host)).status, 201, host);
  }
});

test('--allowed-hosts names are served, with or without a pinned port; * serves any Host', async (t) => {
  const { base } = await withInstance(t, { allowedHosts: ['draas.internal', 'console.example:443'] });
  const get = (host: string) => rawRequest(base, { method: 'GET', path: '/api/server/instances', headers: { host } });
  t.is((await get('draas.internal:5087')).status, 200);
  t.is((await get('DRAAS.internal')).status, 200);
  t.is((await get('console.example:443')).status, 200);
  isProblem(t, await get('console.example:8443'), 421, 'host-not-allowed');
  isProblem(t, await get('other.internal'), 421, 'host-not-allowed');
  isProblem(t, await get('draas.internal.evil.example'), 421, 'host-not-allowed');
  const any = await withInstance(t, { allowedHosts: ['*'] });
  t.is((await rawRequest(any.base, { method: 'GET', path: '/api/server/instances', headers: { host: 'anything.example' } })).status, 200);
});

test('bad host names and origins in the options are refused when the app is made', async (t) => {
  const { controlPlane } = await memoryControlPlane(t);
  t.throws(() => createHttpApp(controlPlane, { allowedHosts: ['bad host!'] }), { message: /allowed host "bad host!"/ });
  t.throws(() => createHttpApp(controlPlane, { corsOrigins: ['https://console.example/ui'] }), { message: /CORS origin "https:\/\/console.example\/ui"/ });
  t.throws(() => createHttpApp(controlPlane, { corsOrigins: ['*'] }), { message: /CORS origin "\*"/ });
});

test('a browser Origin that is neither the server itself nor listed is 403 and nothing is done', async (t) => {
  const { base, call, port } = await withInstance(t);
  const host = `127.0.0.1:${port}`;
  for (const origin of ['http://evil.example', 'null', `http://localhost:${port}`, 'http://127.0.0.1:3000', 'not a url']) {
    const start = await rawRequest(base, { method: 'POST', path: '/api/server/instances/x/start', headers: { host, origin } });
    isProblem(t, start, 403, 'forbidden', /origin/i);
    t.is(start.headers['access-control-allow-origin'], undefined);
    const create = await rawRequest(base, { method: 'POST', path: '/api/server/instances', headers: { ...json, host, origin }, body: '{"name":"z"}' });
    isProblem(t, create, 403, 'forbidden', /--cors-origins/);
  }
  t.is(await statusOf(call, 'x'), 'Pending');
  t.is((await call('GET', '/api/server/instances/z')).status, 404);
  // Its own origin (a page the server itself serves, e.g. a console at /ui) is same-origin: served.
  const same = await rawRequest(base, { method: 'POST', path: '/api/server/instances/x/start', headers: { host, origin: `http://${host}` } });
  t.is(same.status, 200, same.text);
  const viaName = await rawRequest(base, { method: 'GET', path: '/api/server/instances', headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` } });
  t.is(viaName.status, 200);
});

test('an allowed origin is served with CORS headers and its preflight is answered; others get no CORS headers', async (t) => {
  const console = 'https://console.example:8443';
  const { base, call } = await withInstance(t, { corsOrigins: [console] });
  const preflight = await rawRequest(base, {
    method: 'OPTIONS',
    path: '/api/server/instances/x/start',
    headers: { origin: console, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  t.is(preflight.status, 204);
  t.is(preflight.headers['access-control-allow-origin'], console);
  t.regex(String(preflight.headers['access-control-allow-methods']), /POST/);
  t.regex(String(preflight.headers['access-control-allow-methods']), /PATCH/);
  t.regex(String(preflight.headers['access-control-allow-headers']), /content-type/i);
  t.truthy(preflight.headers['access-control-max-age']);
  t.regex(String(preflight.headers.vary), /origin/i);

  const created = await rawRequest(base, { method: 'POST', path: '/api/server/instances', headers: { ...json, origin: console }, body: '{"name":"cors"}' });
  t.is(created.status, 201);
  t.is(created.headers['access-control-allow-origin'], console);
  t.regex(String(created.headers['access-control-expose-headers']), /location/i);
  const started = await rawRequest(base, { method: 'POST', path: '/api/server/instances/cors/start', headers: { origin: console } });
  t.is(started.status, 200);
  // A problem answered to an allowed origin carries the headers too, so that its page can read it.
  const conflict = await rawRequest(base, { method: 'POST', path: '/api/server/instances/x/stop', headers: { origin: console } });
  isProblem(t, conflict, 409, 'conflict');
  t.is(conflict.headers['access-control-allow-origin'], console);

  const foreign = await rawRequest(base, {
    method: 'OPTIONS',
    path: '/api/server/instances/x/start',
    headers: { origin: 'https://console.example', 'access-control-request-method': 'POST' },
  });
  isProblem(t, foreign, 403, 'forbidden');
  t.is(foreign.headers['access-control-allow-origin'], undefined);
  t.is(await statusOf(call, 'x'), 'Pending');
  // Without an Origin, OPTIONS is not a preflight: the router answers with Allow.
  const options = await rawRequest(base, { method: 'OPTIONS', path: '/api/server/instances/x/start' });
  t.is(options.status, 200);
  t.regex(String(options.headers.allow), /POST/);
});

test('a 10 MB body is 413 naming the limit; the limit is an option', async (t) => {
  const { base, call } = await withInstance(t);
  const big = JSON.stringify({ name: 'big', description: 'x'.repeat(10 * 1024 * 1024) });
  const response = await rawRequest(base, { method: 'POST', path: '/api/server/instances', headers: json, body: big });
  isProblem(t, response, 413, 'payload-too-large', /1048576 bytes/);
  t.is(response.json?.limit, 1_048_576);
  t.is((await call('GET', '/api/server/instances/big')).status, 404);
  // Chunked, without a Content-Length: counted as it arrives.
  const chunked = await rawRequest(base, { method: 'POST', path: '/api/server/instances', headers: { ...json, 'transfer-encoding': 'chunked' }, body: big });
  isProblem(t, chunked, 413, 'payload-too-large');

  const small = await withInstance(t, { maxBodyBytes: 2_048 });
  const body = (size: number) => JSON.stringify({ name: `s${size}`, description: 'x'.repeat(size) });
  isProblem(t, await rawRequest(small.base, { method: 'POST', path: '/api/server/instances', headers: json, body: body(4_000) }), 413, 'payload-too-large', /2048 bytes/);
  t.is((await rawRequest(small.base, { method: 'POST', path: '/api/server/instances', headers: json, body: body(1_000) })).status, 201);
});
