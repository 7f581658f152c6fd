/**
 * One start over HTTP is one trace, across the real Redis transport: the HTTP
 * server span → the instance actor's request → the command sent (producer) →
 * the worker handling it (consumer, its parent read from the envelope that
 * crossed Redis) → the driver's start (the process spawn). An incoming
 * `traceparent` becomes the trace's parent.
 *
 * The control plane and the worker run in this process (one in-memory
 * exporter sees both), each with its own Redis connections; nothing but the
 * command envelope carries the context from one to the other (the worker's
 * span starts from the envelope's context, never the ambient one).
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { Redis } from 'ioredis';
import { PassThrough } from 'node:stream';
import { createPinoLogger } from '../../src/observability/pino-logger.js';
import { startClusterControlPlane, startClusterWorker } from '../../src/cluster.js';
import { doubleExecutable, portRange } from '../helpers/embedded.js';
import { pidsWithArgument } from '../helpers/processes.js';
import { startRedisServer } from '../helpers/redis-server.js';

const exporter = new InMemorySpanExporter();
new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();

/** Every log line of both sides, as JSON. */
const sink = new PassThrough();
let logged = '';
sink.on('data', (chunk: Buffer) => (logged += chunk.toString()));
const logLines = () => logged.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;

async function cluster(t: import('ava').ExecutionContext) {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-traces-'));
  const prefix = `traces-${process.pid}:`;
  const worker = await startClusterWorker({
    platform: 'process',
    workerId: 'traced-worker',
    dataDir,
    drasiServer: doubleExecutable,
    ports: portRange(),
    stopGraceMs: 2_000,
    heartbeatMs: 200,
    redis: { url: redis.url, prefix },
    log: createPinoLogger({ level: 'debug', format: 'json', destination: sink }).child({ role: 'worker' }),
  });
  const controlPlane = await startClusterControlPlane({
    redis: { url: redis.url, prefix },
    startTimeoutMs: 10_000,
    stopGraceMs: 2_000,
    replicaId: 'traced',
    shardCount: 1,
    log: createPinoLogger({ level: 'debug', format: 'json', destination: sink }).child({ role: 'control-plane' }),
  });
  t.teardown(async () => {
    for (const pid of pidsWithArgument(dataDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await controlPlane.close();
    await worker.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const { url } = await controlPlane.listen({ port: 0 });
  return { url, redis, prefix };
}

test.serial('a start over HTTP is one trace from the HTTP request to the worker spawn, across Redis', async (t) => {
  const { url, redis } = await cluster(t);
  const created = await fetch(`${url}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'traced' }) });
  t.is(created.status, 201);
  // Every XADD Redis runs, as it runs it (the entries are deleted once handled).
  const client = new Redis(redis.url, { lazyConnect: true });
  const monitor = await client.monitor();
  t.teardown(() => {
    monitor.disconnect();
    client.disconnect();
  });
  const xadds: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'xadd') xadds.push(args.slice(1));
  });
  exporter.reset();

  const incomingTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const incomingSpan = '00f067aa0ba902b7';
  const started = await fetch(`${url}/api/server/instances/traced/start`, { method: 'POST', headers: { traceparent: `00-${incomingTrace}-${incomingSpan}-01`, 'x-request-id': 'req-42' } });
  t.is(started.status, 200, await started.text());
  t.is(started.headers.get('x-request-id'), 'req-42', 'the request id is echoed');

  const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === incomingTrace);
  const named = (name: string) => {
    const found = spans.filter((span) => span.name === name);
    t.is(found.length, 1, `one span "${name}" in ${spans.map((span) => span.name).join(', ')}`);
    return found[0]!;
  };
  const server = named('POST /api/server/instances/:id/start');
  const request = named('instance.start');
  const send = named('send workload.start');
  const process_ = named('process workload.start');
  const driver = named('driver.start');

  t.is(server.kind, SpanKind.SERVER);
  t.is(parentOf(server), incomingSpan, 'the incoming traceparent is the parent');
  t.is(server.attributes['http.route'], '/api/server/instances/:id/start');
  t.is(server.attributes['http.response.status_code'], 200);
  t.is(server.attributes['draas.operation'], 'startInstance');
  t.is(request.kind, SpanKind.INTERNAL);
  t.is(parentOf(request), idOf(server));
  t.is(send.kind, SpanKind.PRODUCER);
  t.is(parentOf(send), idOf(request));
  t.is(process_.kind, SpanKind.CONSUMER);
  t.is(parentOf(process_), idOf(send), 'the worker span is a child of the producer, through the envelope');
  t.true(process_.parentSpanContext?.isRemote, 'its parent came from outside (the envelope)');
  t.is(process_.attributes['messaging.message.id'], send.attributes['messaging.message.id'], 'the same command');
  t.is(driver.kind, SpanKind.INTERNAL);
  t.is(parentOf(driver), idOf(process_));
  t.is(driver.attributes['draas.platform'], 'process');
  t.true(spans.every((span) => span.spanContext().traceId === incomingTrace));

  // What crossed Redis: the start command added to the worker's stream carries the producer span's context.
  const carried = xadds.filter((args) => args[0]?.endsWith('worker.traced-worker') && args.join(' ').includes(String(send.attributes['messaging.message.id'])));
  t.is(carried.length, 1, 'the start command was added to the worker stream once');
  t.true(carried[0]!.join(' ').includes(`00-${incomingTrace}-${idOf(send)}-01`), 'its envelope carries the producer span as traceparent');

  // The log lines of both sides name the trace: the access line, and the worker's line about the command.
  const lines = logLines();
  t.like(lines.find((line) => line.requestId === 'req-42'), { role: 'control-plane', operation: 'startInstance', status: 200, traceId: incomingTrace });
  t.like(lines.find((line) => line.msg === 'workload.start done'), {
    role: 'worker',
    instanceId: 'traced',
    commandId: send.attributes['messaging.message.id'],
    traceId: incomingTrace,
    spanId: idOf(process_),
  });
});

test.serial('without an incoming traceparent a request starts its own trace; an unsafe X-Request-Id is replaced and the problem body names the id', async (t) => {
  const { url } = await cluster(t);
  exporter.reset();
  const missing = await fetch(`${url}/api/server/instances/nope/start`, { method: 'POST', headers: { 'x-request-id': 'bad id with spaces' } });
  t.is(missing.status, 404);
  const body = (await missing.json()) as { requestId?: string };
  const requestId = missing.headers.get('x-request-id') ?? undefined;
  t.truthy(requestId);
  t.not(requestId, 'bad id with spaces', 'an unsafe incoming id is replaced');
  t.is(body.requestId, requestId, 'the problem body names the request id');
  const server = exporter.getFinishedSpans().find((span) => span.name === 'POST /api/server/instances/:id/start');
  t.truthy(server);
  t.is(parentOf(server!), undefined, 'a root span');
  t.is(server!.attributes['http.response.status_code'], 404);
  t.is(server!.attributes['draas.request_id'], requestId);
});

test.serial('a call forwarded to the owning replica stays in the trace: forward (producer) → process replica.call (consumer) → instance.start', async (t) => {
  const { url, redis, prefix } = await cluster(t);
  // A second replica that owns nothing (the first holds the only shard): it forwards.
  const second = await startClusterControlPlane({ redis: { url: redis.url, prefix }, startTimeoutMs: 10_000, stopGraceMs: 2_000, replicaId: 'forwarder', shardCount: 1 });
  t.teardown(() => second.close());
  const { url: secondUrl } = await second.listen({ port: 0 });
  t.is((await fetch(`${url}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'forwarded' }) })).status, 201);
  exporter.reset();
  const started = await fetch(`${secondUrl}/api/server/instances/forwarded/start`, { method: 'POST' });
  t.is(started.status, 200, await started.text());
  const spans = exporter.getFinishedSpans();
  const server = spans.find((span) => span.name === 'POST /api/server/instances/:id/start');
  t.truthy(server, spans.map((span) => span.name).join(', '));
  const inTrace = spans.filter((span) => span.spanContext().traceId === server!.spanContext().traceId);
  const one = (name: string) => {
    const found = inTrace.filter((span) => span.name === name);
    t.is(found.length, 1, `one "${name}" in ${inTrace.map((span) => span.name).join(', ')}`);
    return found[0]!;
  };
  const forward = one('forward start');
  const owner = one('process replica.call');
  const request = one('instance.start');
  t.is(forward.kind, SpanKind.PRODUCER);
  t.is(parentOf(forward), idOf(server!));
  t.is(owner.kind, SpanKind.CONSUMER);
  t.is(parentOf(owner), idOf(forward));
  t.is(parentOf(request), idOf(owner));
  t.is(parentOf(one('process workload.start')), idOf(one('send workload.start')), 'and on to the worker');
});
