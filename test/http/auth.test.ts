/**
 * Authentication and roles on a real embedded control plane (tokens in its
 * data dir): the matrix of every catalogued operation × every kind of caller,
 * driven from the catalog so a new route is covered without a new test; the
 * 401/403 answers; SSE with a token; admin-only powers; the audit log.
 */
import test, { type ExecutionContext } from 'ava';
import { FileTokenStore } from '../../src/auth/file-token-store.js';
import { FileAuditLog } from '../../src/auth/audit.js';
import { allows, operationIds, operations, type OperationId, type Role } from '../../src/http/operations.js';
import { embedded } from '../helpers/embedded.js';
import { listenSse } from '../helpers/sse-client.js';

type Caller = 'none' | 'malformed' | 'bad' | 'revoked' | Role;
const callers: Caller[] = ['none', 'malformed', 'bad', 'revoked', 'viewer', 'operator', 'admin'];

async function authenticated(t: ExecutionContext, options: Parameters<typeof embedded>[1] = {}) {
  const { draas, dataDir } = await embedded(t, { auth: {}, http: { acceptStatusReports: true }, ...options });
  const store = new FileTokenStore(dataDir);
  const tokens: Record<string, string> = {};
  for (const role of ['viewer', 'operator', 'admin'] as const) tokens[role] = (await store.add(`the-${role}`, role)).token;
  tokens.revoked = (await store.add('gone', 'admin')).token;
  await store.revoke('gone');
  // Shaped like a token, never issued.
  tokens.bad = `draas_${'A'.repeat(43)}`;
  const { url } = await draas.listen({ port: 0, host: '127.0.0.1' });
  return { draas, dataDir, url, tokens, store };
}

function headersFor(caller: Caller, tokens: Record<string, string>): Record<string, string> {
  if (caller === 'none') return {};
  if (caller === 'malformed') return { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` };
  return { authorization: `Bearer ${tokens[caller]}` };
}

/** One request to an operation (unknown instance ids, empty bodies: answered at once when allowed); a stream is closed after its headers. */
async function call(url: string, id: OperationId, headers: Record<string, string>): Promise<{ status: number; headers: Headers; body: Record<string, unknown> | undefined }> {
  const { method, path } = operations[id];
  const controller = new AbortController();
  const response = await fetch(url + path.replace(':id', 'nobody'), {
    method,
    signal: controller.signal,
    headers: { ...headers, ...(method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' }) },
    ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }),
  });
  let body: Record<string, unknown> | undefined;
  if ((response.headers.get('content-type') ?? '').includes('json')) body = (await response.json()) as Record<string, unknown>;
  else controller.abort();
  return { status: response.status, headers: response.headers, body };
}

test('every operation × every caller: 401 without a valid token, 403 below the role the catalog names, served otherwise', async (t) => {
  const { url, tokens } = await authenticated(t);
  for (const id of operationIds) {
    const { access } = operations[id];
    for (const caller of callers) {
      const { status, headers, body } = await call(url, id, headersFor(caller, tokens));
      const where = `${id} (${access}) as ${caller}: ${status} ${JSON.stringify(body)}`;
      if (access === 'public') {
        t.true(status !== 401 && status !== 403, where);
      } else if (caller === 'none' || caller === 'malformed' || caller === 'bad' || caller === 'revoked') {
        t.is(status, 401, where);
        t.is(body?.type, 'urn:draas:problem:unauthorized', where);
        t.regex(headers.get('www-authenticate') ?? '', /^Bearer realm="draas"/, where);
        if (caller === 'malformed') t.regex(headers.get('www-authenticate') ?? '', /error="invalid_request"/, where);
        else if (caller !== 'none') t.regex(headers.get('www-authenticate') ?? '', /error="invalid_token"/, where);
        else t.notRegex(headers.get('www-authenticate') ?? '', /error=/, where);
      } else if (!allows(caller, access)) {
        t.is(status, 403, where);
        t.is(body?.requiredRole, access, where);
        t.regex(String(body?.detail), new RegExp(`needs the role ${access}; this token has ${caller}`), where);
        t.regex(headers.get('www-authenticate') ?? '', /error="insufficient_scope"/, where);
      } else {
        t.true(status !== 401 && status !== 403, where);
      }
    }
  }
});

test('a 401 does not depend on the body: an oversized or malformed body without a token is 401, not 413 or 400', async (t) => {
  const { url } = await authenticated(t);
  const big = await fetch(`${url}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(2_000_000) }).catch(() => undefined);
  if (big !== undefined) t.is(big.status, 401);
  const malformed = await fetch(`${url}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
  t.is(malformed.status, 401);
  const wrongType = await fetch(`${url}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
  t.is(wrongType.status, 401);
});

test('probes, unknown paths and the console stay open; publicOperations opens chosen operations', async (t) => {
  const { url } = await authenticated(t, { auth: { publicOperations: ['listPlatforms'] } });
  t.is((await fetch(`${url}/healthz`)).status, 200);
  t.is((await fetch(`${url}/readyz`)).status, 200);
  t.is((await fetch(`${url}/api/nothing-here`)).status, 404);
  t.is((await fetch(`${url}/api/server/instances`, { method: 'PUT' })).status, 405);
  const page = await fetch(`${url}/ui`);
  t.is(page.status, 200);
  t.is((await fetch(`${url}/api/platforms`)).status, 200, 'opened by publicOperations');
  t.is((await fetch(`${url}/api/server/instances`)).status, 401, 'the others still need a token');
});

test('only reads may be opened with publicOperations; an unknown id is refused when the app is made', async (t) => {
  const { createHttpApp } = await import('../../src/http/app.js');
  const { draas } = await embedded(t);
  t.throws(() => createHttpApp(draas, { auth: { publicOperations: ['createInstance'] } }), { message: /createInstance changes something; only reads may be opened/ });
  t.throws(() => createHttpApp(draas, { auth: { publicOperations: ['getMetricz' as OperationId] } }), { message: /no operation "getMetricz"/ });
});

test('a token is revoked for the running server within seconds (another process rewrites the file)', async (t) => {
  const { url, tokens, dataDir } = await authenticated(t);
  const headers = { authorization: `Bearer ${tokens.viewer}` };
  t.is((await fetch(`${url}/api/server/instances`, { headers })).status, 200);
  // A second store object stands for `draas tokens revoke` in another process.
  await new FileTokenStore(dataDir).revoke('the-viewer');
  const revokedAt = Date.now();
  let status = 200;
  while (status === 200 && Date.now() - revokedAt < 5_000) {
    status = (await fetch(`${url}/api/server/instances`, { headers })).status;
    if (status === 200) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.is(status, 401);
  t.true(Date.now() - revokedAt < 2_000, `took ${Date.now() - revokedAt} ms`);
});

test('SSE works with a bearer token; without one it is 401 before any stream opens', async (t) => {
  const { url, tokens, draas } = await authenticated(t);
  t.is((await fetch(`${url}/api/events`)).status, 401);
  const sse = await listenSse(`${url}/api/events`, { authorization: `Bearer ${tokens.viewer}` });
  t.teardown(() => sse.close());
  t.is(sse.response.status, 200);
  await draas.create({ name: 'sse-auth', configuration: {} });
  const deadline = Date.now() + 5_000;
  while (!sse.frames.some((frame) => frame.event === 'status-changed') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.true(sse.frames.some((frame) => frame.event === 'status-changed' && (frame.data as { instanceId?: string }).instanceId === 'sse-auth'));
});

test('an operator may not ask for what only --allow permits (403 naming the switch); an admin may', async (t) => {
  const { url, tokens } = await authenticated(t, { policy: { allow: ['all-interfaces'] } });
  const body = JSON.stringify({ name: 'wide', platformType: 'process', serverConfiguration: { host: '0.0.0.0' }, configuration: {} });
  const post = (token: string) => fetch(`${url}/api/server/instances`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
  const refused = await post(tokens.operator!);
  const problem = (await refused.json()) as Record<string, unknown>;
  t.is(refused.status, 403);
  t.is(problem.reason, 'admin-only');
  t.deepEqual(problem.allowedBy, ['all-interfaces']);
  t.regex(String(problem.detail), /\/serverConfiguration\/host/);
  t.is((await post(tokens.admin!)).status, 201);

  // An operator's own instance, within the defaults, is created; a change that adds such a power is 403, another change is fine.
  const plain = await fetch(`${url}/api/server/instances`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'narrow', configuration: { sources: [], queries: [], reactions: [] } }),
  });
  t.is(plain.status, 201);
  const patch = (token: string, operations: unknown) =>
    fetch(`${url}/api/configuration/instances/wide`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json-patch+json' }, body: JSON.stringify(operations) });
  // "wide" binds every interface (an admin's doing): an operator may still change its other parts.
  t.is((await patch(tokens.operator!, [{ op: 'add', path: '/sources', value: [] }])).status, 200);
});

test('every request to a mutation is audited, allowed or refused, with who, what, the instance and the result; never the token', async (t) => {
  const { url, tokens, dataDir } = await authenticated(t);
  const post = (headers: Record<string, string>, body: unknown) =>
    fetch(`${url}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-42', ...headers }, body: JSON.stringify(body) });
  t.is((await post({}, { name: 'anon' })).status, 401);
  t.is((await post({ authorization: `Bearer ${tokens.viewer}` }, { name: 'low' })).status, 403);
  t.is((await post({ authorization: `Bearer ${tokens.operator}` }, { name: 'made', configuration: {}, environment: { SECRET: 'hunter2' } })).status, 201);
  t.is((await post({ authorization: `Bearer ${tokens.operator}` }, { name: 'made', configuration: {} })).status, 409);
  // Reads are not audited.
  t.is((await fetch(`${url}/api/server/instances`, { headers: { authorization: `Bearer ${tokens.admin}` } })).status, 200);

  const log = await new FileAuditLog(dataDir).read({ limit: 100 });
  const entries = log.entries;
  t.deepEqual(entries.map((entry) => [entry.status, entry.actor.kind, entry.role ?? null]), [
    [401, 'anonymous', null],
    [403, 'token', 'viewer'],
    [201, 'token', 'operator'],
    [409, 'token', 'operator'],
  ]);
  t.like(entries[2], { operation: 'createInstance', method: 'POST', path: '/api/server/instances', instanceId: 'made', requestId: 'req-42', actor: { kind: 'token', name: 'the-operator' } });
  t.is(entries[3]?.problem, 'conflict');
  t.is(entries[1]?.problem, 'forbidden');
  t.truthy(entries[2]?.remoteAddress);
  t.false(JSON.stringify(entries).includes('hunter2'), 'no request bodies');
  for (const token of Object.values(tokens)) t.false(JSON.stringify(entries).includes(token), 'no tokens');

  // GET /api/audit: admin only, pages with after/next.
  t.is((await fetch(`${url}/api/audit`, { headers: { authorization: `Bearer ${tokens.operator}` } })).status, 403);
  const admin = { authorization: `Bearer ${tokens.admin}` };
  const first = (await (await fetch(`${url}/api/audit?limit=2`, { headers: admin })).json()) as { entries: { id: string; status: number }[]; next: string };
  t.deepEqual(first.entries.map((entry) => entry.status), [201, 409], 'the newest two');
  const all = (await (await fetch(`${url}/api/audit?after=0&limit=3`, { headers: admin })).json()) as { entries: { id: string; status: number }[]; next: string };
  t.deepEqual(all.entries.map((entry) => entry.status), [401, 403, 201]);
  const rest = (await (await fetch(`${url}/api/audit?after=${all.next}`, { headers: admin })).json()) as { entries: { status: number }[] };
  t.deepEqual(rest.entries.map((entry) => entry.status), [409]);
  t.is((await fetch(`${url}/api/audit?after=not-a-cursor`, { headers: admin })).status, 400);
  t.is((await fetch(`${url}/api/audit?limit=0`, { headers: admin })).status, 400);
});

test('without auth the API is open and keeps no audit log (GET /api/audit is 404 saying how to get one)', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0, host: '127.0.0.1' });
  t.is((await fetch(`${url}/api/server/instances`)).status, 200);
  const audit = await fetch(`${url}/api/audit`);
  t.is(audit.status, 404);
  t.regex(String(((await audit.json()) as { detail: string }).detail), /--auth/);
});

test('with auth and no token yet, the control plane says how to make one', async (t) => {
  const lines: string[] = [];
  const { dataDir } = await embedded(t, { auth: {}, log: (line) => lines.push(line) });
  t.true(lines.some((line) => line.includes('no token exists yet') && line.includes(`draas tokens add NAME --role admin --data-dir`) && line.includes(dataDir)), lines.join('\n'));
});

test('a listed origin’s page may send Authorization: the preflight allows it without a token; the request itself still needs one', async (t) => {
  const { url, tokens } = await authenticated(t, { http: { acceptStatusReports: true, corsOrigins: ['https://console.example'] } });
  const preflight = await fetch(`${url}/api/server/instances`, {
    method: 'OPTIONS',
    headers: { origin: 'https://console.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
  });
  t.is(preflight.status, 204);
  t.regex(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
  const refused = await fetch(`${url}/api/server/instances`, { headers: { origin: 'https://console.example' } });
  t.is(refused.status, 401);
  t.regex(refused.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/);
  t.is((await fetch(`${url}/api/server/instances`, { headers: { origin: 'https://console.example', authorization: `Bearer ${tokens.viewer}` } })).status, 200);
});

test('idempotency keys are scoped by caller: the same key from another token is not a replay of the first one’s answer', async (t) => {
  const { url, tokens, store } = await authenticated(t);
  const other = (await store.add('other-operator', 'operator')).token;
  const create = (token: string) =>
    fetch(`${url}/api/server/instances`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'same-key' },
      body: JSON.stringify({ name: 'once', configuration: {} }),
    });
  t.is((await create(tokens.operator!)).status, 201);
  const replay = await create(tokens.operator!);
  t.is(replay.status, 201);
  t.is(replay.headers.get('idempotent-replayed'), 'true');
  const another = await create(other);
  t.is(another.status, 409, 'not the first caller’s stored answer');
  t.is(another.headers.get('idempotent-replayed'), null);
});
