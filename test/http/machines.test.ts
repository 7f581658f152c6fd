/**
 * GET /api/machines/instance over real HTTP: the lifecycle machine as JSON
 * (with its layout), Mermaid and Graphviz DOT, revalidated by ETag; bad
 * queries, unknown machines and other methods are problems.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { instanceMachineDocument, instanceMachineText } from '../../src/machines/machine-document.js';
import { serve, type ApiResponse } from '../helpers/memory-api.js';
import { rawRequest } from '../helpers/raw-http.js';

function isProblem(t: ExecutionContext, response: ApiResponse, status: number, code: string) {
  t.is(response.status, status);
  t.regex(response.type, /^application\/problem\+json/);
  t.like(response.body, { status, type: `urn:draas:problem:${code}` });
  t.is(typeof response.body?.detail, 'string');
}

test('the default is the JSON document, with a layout; no-cache and an ETag that revalidates to 304', async (t) => {
  const { call, base } = await serve(t);
  const response = await call('GET', '/api/machines/instance');
  t.is(response.status, 200);
  t.regex(response.type, /^application\/json/);
  t.is(response.headers.get('cache-control'), 'no-cache');
  t.deepEqual(response.body, JSON.parse(JSON.stringify(instanceMachineDocument())));
  t.like(response.body, { id: 'instance', initial: 'Pending' });
  t.true(Array.isArray((response.body?.layout as { nodes: unknown[] }).nodes));
  t.deepEqual((await call('GET', '/api/machines/instance?format=json')).body, response.body);

  const etag = response.headers.get('etag');
  t.truthy(etag);
  // node:http, not fetch: fetch adds `Cache-Control: no-cache` to a conditional request, which asks for the full answer.
  const again = await rawRequest(base, { method: 'GET', path: '/api/machines/instance', headers: { 'If-None-Match': etag! } });
  t.is(again.status, 304);
  t.is(again.text, '');
  t.is(again.headers.etag, etag!);
  const dotTag = (await fetch(`${base}/api/machines/instance?format=dot`)).headers.get('etag');
  t.not(dotTag, etag, 'each format has its own tag');
});

test('format=mermaid is the diagram of docs/lifecycle.md; format=dot is Graphviz', async (t) => {
  const { base } = await serve(t);
  const mermaid = await fetch(`${base}/api/machines/instance?format=mermaid`);
  t.is(mermaid.status, 200);
  t.regex(mermaid.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await mermaid.text();
  t.is(text, instanceMachineText('mermaid'));
  t.regex(text, /^stateDiagram-v2\n {2}\[\*\] --> Pending\n/);

  const dot = await fetch(`${base}/api/machines/instance?format=dot`);
  t.is(dot.status, 200);
  t.regex(dot.headers.get('content-type') ?? '', /^text\/vnd\.graphviz/);
  const graph = await dot.text();
  t.is(graph, instanceMachineText('dot'));
  t.regex(graph, /^digraph "instance" \{/);
});

test('GET /api/machines lists the machines', async (t) => {
  const { call } = await serve(t);
  const response = await call('GET', '/api/machines');
  t.is(response.status, 200);
  t.deepEqual(response.body, { machines: [{ id: 'instance', href: '/api/machines/instance' }] });
});

test('problems: 400 for an unknown format or parameter, 404 naming the machines, 405 for another method', async (t) => {
  const { call } = await serve(t);
  const badFormat = await call('GET', '/api/machines/instance?format=svg');
  isProblem(t, badFormat, 400, 'bad-request');
  t.regex(String(badFormat.body?.detail), /format/);
  isProblem(t, await call('GET', '/api/machines/instance?format='), 400, 'bad-request');
  isProblem(t, await call('GET', '/api/machines/instance?format=json&format=dot'), 400, 'bad-request');
  const extra = await call('GET', '/api/machines/instance?layout=false');
  isProblem(t, extra, 400, 'bad-request');
  t.regex(String(extra.body?.detail), /layout/);

  const unknown = await call('GET', '/api/machines/worker');
  isProblem(t, unknown, 404, 'not-found');
  t.regex(String(unknown.body?.detail), /instance/);
  t.deepEqual(unknown.body?.machines, ['instance']);

  const post = await call('POST', '/api/machines/instance');
  isProblem(t, post, 405, 'method-not-allowed');
  t.regex(post.headers.get('allow') ?? '', /GET/);
});
