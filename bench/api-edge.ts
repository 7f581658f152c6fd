/**
 * What the production edges cost per request over HTTP: bearer-token
 * authentication (with its audit of mutations), an Idempotency-Key on each
 * POST, and tracing with a recording SDK — each against the same API without
 * it, in the same run. The control plane runs on an instant in-memory driver,
 * so the figures are DRaaS's own HTTP path. The first row's baseline is a bare
 * Koa app answering a JSON body of the same size (the HTTP stack alone).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Koa from 'koa';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ControlPlane } from '../src/actors/control-plane.js';
import { PlatformWorker } from '../src/actors/platform-worker.js';
import { FileAuditLog } from '../src/auth/audit.js';
import { FileTokenStore } from '../src/auth/file-token-store.js';
import { createHttpApp, type HttpAppOptions } from '../src/http/app.js';
import { MemoryTransport } from '../src/transport/memory.js';
import { MemoryDriver } from '../test/fixtures/memory-driver.js';
import { row, type Row } from './lib/results.js';
import { measure, type LatencySummary } from './lib/stats.js';

const lanes = 16;

interface Served {
  url: string;
  close(): Promise<void>;
}

async function serve(app: Koa): Promise<Served> {
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function call(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<void> {
  const response = await fetch(url, {
    method,
    headers: body !== undefined ? { ...headers, 'content-type': 'application/json' } : headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  await response.arrayBuffer();
  if (response.status >= 300) throw new Error(`${method} ${url}: ${response.status}`);
}

/** An API on an instant driver, with one instance to read. */
async function api(options: HttpAppOptions): Promise<Served & { controlPlane: ControlPlane }> {
  const transport = new MemoryTransport();
  const worker = new PlatformWorker({ transport, driver: new MemoryDriver() });
  await worker.start();
  const controlPlane = new ControlPlane({ transport, historyLimit: 8, reconcileIntervalMs: null });
  await controlPlane.open();
  await controlPlane.create({ name: 'read-me' });
  const served = await serve(createHttpApp(controlPlane, { log: () => undefined, ...options }));
  return {
    ...served,
    controlPlane,
    close: async () => {
      await served.close();
      await controlPlane.close();
      await worker.close();
      await transport.close();
    },
  };
}

const reads = (url: string, count: number, headers: Record<string, string>) => measure(count, lanes, () => call(`${url}/api/server/instances/read-me`, 'GET', headers));

/** create + delete of one instance: two requests, the create a POST (with a fresh Idempotency-Key when asked). */
const writes = (url: string, count: number, headers: Record<string, string>, keyed: boolean, prefix: string) =>
  measure(count, lanes, async (index) => {
    const name = `${prefix}-${index}`;
    await call(`${url}/api/server/instances`, 'POST', keyed ? { ...headers, 'idempotency-key': `${prefix}-key-${index}` } : headers, { name });
    await call(`${url}/api/server/instances/${name}`, 'DELETE', headers);
  });

export async function benchApiEdge(options: { quick: boolean }): Promise<Row[]> {
  const count = options.quick ? 1_000 : 5_000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-bench-edge-'));
  const bare = new Koa();
  bare.use((ctx) => {
    ctx.body = { id: 'read-me', status: 'Pending', platform: 'process', desiredState: 'Stopped', observedState: 'Stopped', generation: 1 };
  });
  const tokens = new FileTokenStore(dir);
  const audit = new FileAuditLog(dir);
  const { token } = await tokens.add('bench', 'admin');
  const bearer = { authorization: `Bearer ${token}` };
  const plain = await api({});
  const authed = await api({ auth: { tokens, audit } });
  const bareServed = await serve(bare);
  try {
    // Warm-up (JIT, connection pools) on every server before anything is measured.
    for (const served of [bareServed, plain]) await reads(served.url, count / 5, {});
    await reads(authed.url, count / 5, bearer);
    await writes(plain.url, count / 10, {}, true, 'warm');
    await writes(authed.url, count / 10, bearer, false, 'warm-authed');
    const stack = await reads(bareServed.url, count, {});
    const read = await reads(plain.url, count, {});
    const readAuthed = await reads(authed.url, count, bearer);
    const write = await writes(plain.url, count / 5, {}, false, 'plain');
    const writeKeyed = await writes(plain.url, count / 5, {}, true, 'keyed');
    const writeAuthed = await writes(authed.url, count / 5, bearer, false, 'authed');
    // Tracing: a recording SDK with an in-memory exporter, registered for this measurement only.
    const exporter = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    let readTraced: LatencySummary;
    let writeTraced: LatencySummary;
    let spans = 0;
    provider.register();
    try {
      readTraced = await reads(plain.url, count, {});
      writeTraced = await writes(plain.url, count / 5, {}, false, 'traced');
      spans = exporter.getFinishedSpans().length; // before shutdown, which empties the exporter
    } finally {
      await provider.shutdown();
      trace.disable();
    }
    return [
      row(`api: GET an instance, requests/s (${count}, ${lanes} in flight)`, read.perSecond, 'req/s', { baseline: stack.perSecond }),
      row('api: GET an instance p99', read.p99Ms, 'ms', { baseline: stack.p99Ms }),
      row('api: GET with --auth (bearer token), requests/s', readAuthed.perSecond, 'req/s', { baseline: read.perSecond }),
      row('api: create+delete with --auth (token, audited), per second', writeAuthed.perSecond, 'pairs/s', { baseline: write.perSecond }),
      row('api: create+delete with an Idempotency-Key, per second', writeKeyed.perSecond, 'pairs/s', { baseline: write.perSecond }),
      row(`api: GET with tracing recorded (${spans} spans), requests/s`, readTraced.perSecond, 'req/s', { baseline: read.perSecond }),
      row('api: create+delete with tracing recorded, per second', writeTraced.perSecond, 'pairs/s', { baseline: write.perSecond }),
    ];
  } finally {
    await bareServed.close();
    await authed.close();
    await plain.close();
    await tokens.close();
    await audit.close();
    await rm(dir, { recursive: true, force: true });
  }
}
