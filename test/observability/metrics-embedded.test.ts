/**
 * Metrics of an embedded control plane, scraped over real HTTP and parsed by
 * a Prometheus text-format parser: names, types and labels, values that move
 * as lifecycle operations run (real child processes: the Drasi Server
 * double), no instance id in any label, the separate metrics listener.
 */
import test from 'ava';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createControlPlane } from '../../src/embedded.js';
import { doubleExecutable, embedded, portRange } from '../helpers/embedded.js';
import { api } from '../helpers/http-api.js';
import { waitFor } from '../helpers/processes.js';
import { parseScrape, scrape } from '../helpers/prometheus.js';

test('GET /metrics answers the Prometheus text format with the documented families, types and labels', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const response = await fetch(`${url}/metrics`);
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const metrics = parseScrape(await response.text());
  const types: Record<string, string> = {
    draas_lifecycle_requests_total: 'COUNTER',
    draas_lifecycle_request_duration_seconds: 'HISTOGRAM',
    draas_status_transitions_total: 'COUNTER',
    draas_reconcile_checks_total: 'COUNTER',
    draas_command_round_trip_seconds: 'HISTOGRAM',
    draas_instances: 'GAUGE',
    draas_instances_crash_looping: 'GAUGE',
    draas_workers: 'GAUGE',
    draas_ready: 'GAUGE',
    draas_shards_owned: 'GAUGE',
    draas_shards_unowned: 'GAUGE',
    draas_replicas: 'GAUGE',
    draas_command_queue_depth: 'GAUGE',
    draas_commands_pending: 'GAUGE',
    draas_commands_dead_lettered: 'GAUGE',
    draas_event_stream_clients: 'GAUGE',
    draas_log_follows: 'GAUGE',
    draas_worker_commands_total: 'COUNTER',
    draas_driver_call_duration_seconds: 'HISTOGRAM',
    draas_worker_workload_exits_total: 'COUNTER',
    draas_worker_workloads: 'GAUGE',
    draas_worker_available: 'GAUGE',
    draas_redis_errors_total: 'COUNTER',
    draas_metrics_read_failures_total: 'COUNTER',
    // Node's own (collectDefaultMetrics), once per scrape.
    process_cpu_user_seconds_total: 'COUNTER',
    process_resident_memory_bytes: 'GAUGE',
    nodejs_eventloop_lag_seconds: 'GAUGE',
    nodejs_heap_size_used_bytes: 'GAUGE',
  };
  for (const [name, type] of Object.entries(types)) t.is(metrics.family(name).type as string, type, name);
  t.is(metrics.text.match(/^# TYPE process_cpu_user_seconds_total /gm)?.length, 1, 'the process metrics appear once');
  t.is(metrics.value('draas_ready'), 1);
  t.is(metrics.value('draas_shards_owned'), 1, 'one replica owns its one shard');
  t.is(metrics.value('draas_replicas', { alive: 'true' }), 1);
  t.is(metrics.value('draas_workers', { platform: 'process', available: 'true' }), 1);
  t.is(metrics.value('draas_worker_available', { platform: 'process' }), 1);
  t.is(metrics.value('draas_event_stream_clients'), 0);
  t.is((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405, 'a scrape is a GET');
});

test('lifecycle requests, transitions, instances, command round trips and worker commands move as operations run', async (t) => {
  const { draas } = await embedded(t, { reconcileIntervalMs: null });
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const before = await scrape(url);
  t.is(before.value('draas_lifecycle_requests_total'), 0);
  t.is(before.value('draas_instances'), 0);

  t.is((await call('POST', '/api/server/instances', { name: 'm1' })).status, 201);
  t.is((await call('POST', '/api/server/instances', { name: 'Not A Name' })).status, 400);
  t.is((await call('POST', '/api/server/instances/m1/start')).status, 200);
  t.is((await call('POST', '/api/server/instances/nobody/start')).status, 404);
  const running = await scrape(url);
  t.is(running.value('draas_lifecycle_requests_total', { operation: 'createInstance', outcome: 'ok' }), 1);
  t.is(running.value('draas_lifecycle_requests_total', { operation: 'createInstance', outcome: 'bad-request' }), 1);
  t.is(running.value('draas_lifecycle_requests_total', { operation: 'startInstance', outcome: 'ok' }), 1);
  t.is(running.value('draas_lifecycle_requests_total', { operation: 'startInstance', outcome: 'not-found' }), 1);
  t.is(running.count('draas_lifecycle_request_duration_seconds', { operation: 'startInstance', outcome: 'ok' }), 1);
  t.is(running.value('draas_instances', { platform: 'process', status: 'Running' }), 1);
  t.is(running.value('draas_status_transitions_total', { from: 'Pending', to: 'Starting' }), 1);
  t.is(running.value('draas_status_transitions_total', { from: 'Starting', to: 'Running' }), 1);
  t.true(running.count('draas_command_round_trip_seconds', { platform: 'process', command: 'workload.start', outcome: 'ok' }) >= 1);
  t.true(running.value('draas_worker_commands_total', { platform: 'process', command: 'workload.start', outcome: 'ok' }) >= 1);
  t.true(running.count('draas_driver_call_duration_seconds', { platform: 'process', command: 'workload.start', outcome: 'ok' }) >= 1);
  t.is(running.value('draas_command_queue_depth', { platform: 'process' }), 0, 'nothing waits in the worker queue');

  t.is((await call('POST', '/api/server/instances/m1/reconcile')).status, 200);
  t.is((await call('POST', '/api/server/instances/m1/stop')).status, 200);
  const stopped = await scrape(url);
  t.is(stopped.value('draas_reconcile_checks_total', { outcome: 'in-sync' }), 1);
  t.is(stopped.value('draas_lifecycle_requests_total', { operation: 'reconcileInstance', outcome: 'ok' }), 1);
  t.is(stopped.value('draas_instances', { platform: 'process', status: 'Running' }), 0);
  t.is(stopped.value('draas_instances', { platform: 'process', status: 'Stopped' }), 1);
  t.is(stopped.value('draas_worker_workload_exits_total', { platform: 'process', requested: 'true' }), 1);

  t.is((await call('DELETE', '/api/server/instances/m1')).status, 204);
  const deleted = await scrape(url);
  t.is(deleted.value('draas_instances'), 0);
  t.is(deleted.value('draas_lifecycle_requests_total', { operation: 'deleteInstance', outcome: 'ok' }), 1);
  t.is(deleted.value('draas_status_transitions_total', { to: 'Deleted' }), 1);
});

test('open SSE streams are counted while they are open', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const streams = [new AbortController(), new AbortController()];
  for (const stream of streams) t.is((await fetch(`${url}/api/events`, { signal: stream.signal })).status, 200);
  t.is((await scrape(url)).value('draas_event_stream_clients'), 2);
  for (const stream of streams) stream.abort();
  await waitFor(async () => (await scrape(url)).value('draas_event_stream_clients') === 0, 5_000);
  t.pass();
});

test('no label carries an instance id: 40 more instances add no series', async (t) => {
  const { draas } = await embedded(t, { reconcileIntervalMs: null });
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const names = Array.from({ length: 45 }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);
  const ownSeries = (metrics: Awaited<ReturnType<typeof scrape>>) =>
    [...metrics.families.values()].filter((family) => family.name.startsWith('draas_')).reduce((sum, family) => sum + family.metrics.length, 0);
  for (const name of names.slice(0, 5)) t.is((await call('POST', '/api/server/instances', { name })).status, 201);
  for (const name of names.slice(0, 2)) t.is((await call('POST', `/api/server/instances/${name}/start`)).status, 200);
  const few = await scrape(url);
  for (const name of names.slice(5)) t.is((await call('POST', '/api/server/instances', { name })).status, 201);
  for (const name of names.slice(2, 4)) t.is((await call('POST', `/api/server/instances/${name}/start`)).status, 200);
  const many = await scrape(url);
  t.is(many.value('draas_instances'), 45);
  t.is(ownSeries(many), ownSeries(few), 'the number of series does not grow with the fleet');
  const labelValues = [...many.families.values()].flatMap((family) => family.metrics.flatMap((sample) => Object.values(sample.labels ?? {})));
  for (const name of names) t.false(labelValues.includes(name), `no label is "${name}"`);
  t.false(many.text.includes('fleet-'), 'no instance name anywhere in the scrape');
});

test('--metrics-port: a listener of its own serves GET /metrics alone, without the API', async (t) => {
  const { draas } = await embedded(t, { metricsListener: { port: 0 } });
  const base = draas.metricsUrl!;
  t.regex(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  const metrics = await scrape(base);
  t.is(metrics.family('draas_lifecycle_requests_total').type, 'COUNTER');
  t.is(metrics.value('draas_workers', { platform: 'process' }), 1);
  t.is((await fetch(`${base}/metrics?x=1`)).status, 200, 'a query string is ignored');
  const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
  t.is(head.status, 200);
  for (const other of ['/', '/healthz', '/readyz', '/api/server/instances', '/api/events', '/ui', '/metrics/', '/metricsx']) {
    const response = await fetch(`${base}${other}`);
    t.is(response.status, 404, other);
    t.regex(await response.text(), /serves GET \/metrics only/, other);
  }
  const post = await fetch(`${base}/metrics`, { method: 'POST', body: '{}' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');
  await draas.close();
  await t.throwsAsync(fetch(`${base}/metrics`), undefined, 'closed with the control plane');
});

test('a metrics port in use is a clear error, and nothing is left open', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as net.AddressInfo).port;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-metrics-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const options = { dataDir, drasiServer: doubleExecutable, ports: portRange(), log: () => undefined };
  await t.throwsAsync(createControlPlane({ ...options, metricsListener: { port } }), {
    message: `the metrics port 127.0.0.1:${port} is in use (choose another with --metrics-port / DRAAS_METRICS_PORT)`,
  });
  // The failed control plane closed its store: another one may open the same data directory.
  const again = await createControlPlane(options);
  await again.close();
  t.pass();
});

test('a crash-looping instance shows in draas_instances_crash_looping, its crashes in transitions and worker exits', async (t) => {
  const { draas } = await embedded(t, { reconcileIntervalMs: null, restartPolicy: { initialBackoffMs: 50, maxBackoffMs: 100 } });
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  t.is((await call('POST', '/api/server/instances', { name: 'crashy', environment: { DRASI_DOUBLE_EXIT_AFTER_MS: '1500' } })).status, 201);
  t.is((await call('POST', '/api/server/instances', { name: 'steady' })).status, 201);
  t.is((await call('POST', '/api/server/instances/steady/start')).status, 200);
  t.is((await scrape(url)).value('draas_instances_crash_looping'), 0);
  // It runs 1.5 s, so its crashes are exits of a running server (502 only if a loaded machine probes its health later than that).
  const started = (await call('POST', '/api/server/instances/crashy/start')).status;
  t.true(started === 200 || started === 502, `start answered ${started}`);
  await waitFor(async () => (await scrape(url)).value('draas_instances_crash_looping', { platform: 'process' }) === 1, 40_000, 'crash-looping counted');
  const looping = await scrape(url);
  // A crash while the health probe is still waiting (a loaded machine) fails from Starting, not Running.
  t.true(looping.value('draas_status_transitions_total', { to: 'Failed' }) >= 3);
  t.true(looping.value('draas_worker_workload_exits_total', { platform: 'process', requested: 'false' }) >= 3);
  t.is(looping.value('draas_worker_workload_exits_total', { platform: 'process', requested: 'true' }), 0);
  t.is((await call('POST', '/api/server/instances/crashy/stop')).status, 200);
  t.is((await scrape(url)).value('draas_instances_crash_looping'), 0, 'a stopped instance is not crash-looping');
});
