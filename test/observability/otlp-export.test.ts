/**
 * `draas` exports traces over OTLP (http/protobuf) when OTEL_* asks, to a
 * collector played by a small HTTP server here, and flushes what it buffers
 * when it shuts down (the batch processor would otherwise wait seconds).
 */
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { draasUp } from '../helpers/draas-up.js';

interface Received {
  path: string;
  contentType: string;
  body: Buffer;
}

async function collector(t: import('ava').ExecutionContext): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', contentType: request.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

test('OTEL_EXPORTER_OTLP_ENDPOINT: the request spans reach the collector, named, with the service name and the incoming trace id, flushed at shutdown', async (t) => {
  const otlp = await collector(t);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-otlp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const up = draasUp(['--platforms', 'process', '--data-dir', dir], {
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_SERVICE_NAME: 'draas-otlp-test', OTEL_BSP_SCHEDULE_DELAY: '60000' },
  });
  t.teardown(() => up.child.kill('SIGKILL'));
  const url = await up.url;
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const answer = await fetch(`${url}/api/server/instances`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
  t.is(answer.status, 200);
  t.is(otlp.received.length, 0, 'nothing exported yet (the batch waits)');
  up.child.kill('SIGTERM');
  const exited = await up.child;
  t.is(exited.exitCode, 0, up.output());
  const traces = otlp.received.filter((request) => request.path === '/v1/traces');
  t.true(traces.length > 0, `exported at shutdown: ${otlp.received.map((request) => request.path).join(', ')}\n${up.output()}`);
  t.true(traces.every((request) => request.contentType === 'application/x-protobuf'));
  const body = Buffer.concat(traces.map((request) => request.body));
  t.true(body.includes('GET /api/server/instances'), 'the server span, named by its route');
  t.true(body.includes('draas-otlp-test'), 'OTEL_SERVICE_NAME names the service');
  t.true(body.includes(Buffer.from(traceId, 'hex')), 'in the trace of the incoming traceparent');
});
