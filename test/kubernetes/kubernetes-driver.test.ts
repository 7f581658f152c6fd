/**
 * The Kubernetes driver against the API server double (test/helpers/kube-api.ts):
 * pods run as local processes of the Drasi Server double, so starts, stops,
 * crashes and logs are real; the driver only talks to the API.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BadRequestError, WorkloadFailedError } from '../../src/errors.js';
import { collect, deployment, eventually, livePods, spec, startCluster } from './_kube.js';

test('start resolves once the pod is ready; a second start is the same workload; the objects carry labels and the generation', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const ref = await driver.start(spec('alpha'));
  t.like(ref, { instanceId: 'alpha', platform: 'kubernetes', port: 8080, generation: 1 });
  t.regex(ref.workloadId, /^draas\/draas-alpha\/1-[0-9a-f]{8}$/);
  const found = await deployment(cluster, 'alpha');
  t.is(ref.identity, found?.metadata?.uid);
  t.like(found?.metadata?.labels, { 'app.kubernetes.io/managed-by': 'draas', 'app.kubernetes.io/name': 'drasi-server', 'io.draas/instance-id': 'alpha' });
  t.is(found?.metadata?.annotations?.['io.draas/generation'], '1');
  const pods = await livePods(cluster, 'alpha');
  t.is(pods.length, 1);
  t.true(pods[0]!.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True'));
  const again = await driver.start(spec('alpha'));
  t.deepEqual(again, ref);
  t.deepEqual((await livePods(cluster, 'alpha')).map((pod) => pod.metadata?.uid), pods.map((pod) => pod.metadata?.uid));
  t.deepEqual(await driver.list(), [ref]);
  t.like(await driver.inspect('alpha'), { state: 'running', ref });
  const service = await cluster.core.readNamespacedService({ name: 'draas-alpha', namespace: 'draas' });
  t.deepEqual(service.spec?.ports?.map((port) => port.port), [8080]);
  const configMap = await cluster.core.readNamespacedConfigMap({ name: 'draas-alpha-config', namespace: 'draas' });
  t.regex(configMap.data?.['server.yaml'] ?? '', /host: 0\.0\.0\.0/);
});

test('stop sends SIGINT (the container stop signal), waits until the pod is gone and reports exit code 0 as requested', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const signals = path.join(cluster.dir, 'signals');
  await driver.start(spec('beta', { env: { DRASI_DOUBLE_SIGNAL_FILE: signals, DRASI_DOUBLE_LOG_INTERVAL_MS: '100' } }));
  const outcome = await driver.stop('beta', { graceMs: 3_000 });
  t.true(outcome.wasRunning);
  t.like(outcome.exit, { exitCode: 0, requested: true });
  t.true(outcome.exit!.lastLogLines.some((line) => line.includes('shutting down')), outcome.exit!.lastLogLines.join('\n'));
  t.deepEqual(readFileSync(signals, 'utf8').trim().split('\n'), ['SIGINT']);
  t.deepEqual(await livePods(cluster, 'beta'), []);
  t.is((await deployment(cluster, 'beta'))?.spec?.replicas, 0);
  t.like(await driver.inspect('beta'), { state: 'exited', exit: { exitCode: 0, requested: true } });
  t.deepEqual(await driver.list(), []);
  t.deepEqual(await driver.stop('beta', { graceMs: 3_000 }), { wasRunning: false });
  // Its last lines stay readable after the pod is gone.
  t.true((await driver.logs('beta', { tail: 5 })).length > 0);
});

test('a start after a stop with a new generation rolls a new pod of that generation; remove deletes every object', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  await driver.start(spec('gamma'));
  const [first] = await livePods(cluster, 'gamma');
  await driver.stop('gamma', { graceMs: 3_000 });
  const ref = await driver.start(spec('gamma', { generation: 2, config: { id: 'gamma', host: '127.0.0.1', logLevel: 'debug', persistConfig: false } }));
  t.is(ref.generation, 2);
  const pods = await livePods(cluster, 'gamma');
  t.is(pods.length, 1);
  t.not(pods[0]!.metadata?.uid, first!.metadata?.uid);
  t.is(pods[0]!.metadata?.annotations?.['io.draas/generation'], '2');
  const configMap = await cluster.core.readNamespacedConfigMap({ name: 'draas-gamma-config', namespace: 'draas' });
  t.regex(configMap.data?.['server.yaml'] ?? '', /logLevel: debug/);

  await driver.remove('gamma', { graceMs: 3_000 });
  t.is(await deployment(cluster, 'gamma'), undefined);
  for (const read of [
    () => cluster.core.readNamespacedService({ name: 'draas-gamma', namespace: 'draas' }),
    () => cluster.core.readNamespacedConfigMap({ name: 'draas-gamma-config', namespace: 'draas' }),
  ]) {
    await t.throwsAsync(read, { message: /404/ });
  }
  t.deepEqual(await livePods(cluster, 'gamma'), []);
  t.deepEqual(await driver.inspect('gamma'), { state: 'absent' });
  await t.notThrowsAsync(driver.remove('gamma', { graceMs: 3_000 }));
});

test('a crash of a running server is reported as exited (not requested) with code, reason and last lines, then scaled to 0', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const events = collect(driver);
  await driver.start(spec('delta', { env: { DRASI_DOUBLE_EXIT_AFTER_MS: '8000', DRASI_DOUBLE_EXIT_CODE: '3', DRASI_DOUBLE_LOG_INTERVAL_MS: '100' } }));
  const exited = await events.next((event) => event.type === 'exited' && event.instanceId === 'delta');
  t.truthy(exited);
  if (exited?.type !== 'exited') return;
  t.like(exited.exit, { exitCode: 3, requested: false });
  t.regex(String(exited.exit.details?.['reason']), /exit code 3/);
  t.true(exited.exit.lastLogLines.some((line) => line.includes('exits by itself with code 3')), exited.exit.lastLogLines.join('\n'));
  t.truthy(await eventually(async () => (await deployment(cluster, 'delta'))?.spec?.replicas === 0));
  t.truthy(await eventually(async () => (await livePods(cluster, 'delta')).length === 0));
  t.like(await driver.inspect('delta'), { state: 'exited', exit: { exitCode: 3, requested: false } });
});

test('an OOM kill is reported with oomKilled and exit code 137', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const events = collect(driver);
  await driver.start(spec('oom'));
  const [pod] = await livePods(cluster, 'oom');
  t.true(cluster.kube.knobs.oomKill('draas', pod!.metadata!.name!));
  const exited = await events.next((event) => event.type === 'exited');
  if (exited?.type !== 'exited') return t.fail('no exit reported');
  t.like(exited.exit, { exitCode: 137, requested: false, details: { oomKilled: true } });
  t.regex(String(exited.exit.details?.['reason']), /OOMKilled/);
});

test('an image that cannot be pulled fails the start with the Kubernetes reason and leaves nothing running', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const error = await t.throwsAsync(driver.start(spec('pull', { platformOptions: { image: 'no-such-image:1' } })), { instanceOf: WorkloadFailedError });
  t.regex(error.message, /ErrImagePull|ImagePullBackOff/);
  t.is((await deployment(cluster, 'pull'))?.spec?.replicas, 0);
  t.truthy(await eventually(async () => (await livePods(cluster, 'pull')).length === 0));
  t.deepEqual(await driver.list(), []);
});

test('a server that is not ready within startTimeoutMs fails the start and is scaled to 0', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const error = await t.throwsAsync(driver.start(spec('slow', { startTimeoutMs: 2_000, env: { DRASI_DOUBLE_STARTUP_DELAY_MS: '60000' } })), { instanceOf: WorkloadFailedError });
  t.regex(error.message, /within 2000 ms/);
  t.is((await deployment(cluster, 'slow'))?.spec?.replicas, 0);
  t.truthy(await eventually(async () => (await livePods(cluster, 'slow')).length === 0));
});

test('an aborted start fails and leaves nothing running', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const abort = new AbortController();
  const started = driver.start(spec('aborted', { env: { DRASI_DOUBLE_STARTUP_DELAY_MS: '60000' } }), { signal: abort.signal });
  started.catch(() => undefined);
  t.truthy(await eventually(async () => (await livePods(cluster, 'aborted')).length === 1));
  abort.abort();
  const error = await t.throwsAsync(started, { instanceOf: WorkloadFailedError });
  t.regex(error.message, /aborted/);
  t.is((await deployment(cluster, 'aborted'))?.spec?.replicas, 0);
});

test('a pod whose ConfigMap is missing fails the start with FailedMount instead of waiting for the timeout', async (t) => {
  const cluster = await startCluster(t, { nodeCapacity: { cpu: 8, memory: 32 * 1024 ** 3 } });
  const driver = cluster.driver();
  // Hold the pod unscheduled (it asks for more CPUs than the node has) while its ConfigMap is deleted.
  cluster.kube.knobs.setNodeCapacity({ cpu: 0.1, memory: 32 * 1024 ** 3 });
  const started = driver.start(spec('nomap', { startTimeoutMs: 30_000, platformOptions: { cpus: 1 } }));
  started.catch(() => undefined);
  t.truthy(await eventually(async () => (await livePods(cluster, 'nomap')).length === 1));
  await cluster.core.deleteNamespacedConfigMap({ name: 'draas-nomap-config', namespace: 'draas' });
  cluster.kube.knobs.setNodeCapacity({ cpu: 8, memory: 32 * 1024 ** 3 });
  const begun = Date.now();
  const error = await t.throwsAsync(started, { instanceOf: WorkloadFailedError });
  t.regex(error.message, /FailedMount/);
  t.regex(error.message, /configmap "draas-nomap-config" not found/);
  t.true(Date.now() - begun < 20_000);
  t.is((await deployment(cluster, 'nomap'))?.spec?.replicas, 0);
});

test('bad platform options are a BadRequestError, and nothing is created', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  await t.throwsAsync(driver.start(spec('bad', { platformOptions: { memoryMb: 'lots' } })), { instanceOf: BadRequestError, message: /memoryMb/ });
  await t.throwsAsync(driver.start(spec('bad', { platformOptions: { privileged: true } })), { instanceOf: BadRequestError });
  t.is(await deployment(cluster, 'bad'), undefined);
});

test('availability: true while the API answers; connection refused, 503, 401 and a missing namespace say why', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  t.deepEqual(await driver.availability(), { available: true });
  await cluster.kube.knobs.setAvailability('refusing');
  const refused = await driver.availability();
  t.false(refused.available);
  if (!refused.available) t.regex(refused.reason, /connection refused|ECONNREFUSED/);
  await cluster.kube.knobs.setAvailability('unavailable');
  const unavailable = await driver.availability();
  t.false(unavailable.available);
  if (!unavailable.available) t.regex(unavailable.reason, /503/);
  await cluster.kube.knobs.setAvailability('serving');
  t.deepEqual(await driver.availability(), { available: true });

  const missing = await cluster.driver({ namespace: 'nowhere' }).availability();
  t.false(missing.available);
  if (!missing.available) t.regex(missing.reason, /namespace nowhere does not exist/);

  const wrongToken = path.join(cluster.dir, 'wrong-token.yaml');
  writeFileSync(wrongToken, readFileSync(cluster.kube.kubeconfigPath, 'utf8').replace(cluster.kube.token, 'not-the-token'));
  const refusedCredentials = await cluster.driver({ kubeconfig: { file: wrongToken } }).availability();
  t.false(refusedCredentials.available);
  if (!refusedCredentials.available) {
    t.regex(refusedCredentials.reason, /401/);
    t.false(refusedCredentials.reason.includes('not-the-token'));
  }
});

test('closed watches and a compacted history mid-run lose no change: a later crash is still reported', async (t) => {
  const cluster = await startCluster(t, { expiredWatchAs: 'event' });
  const driver = cluster.driver();
  const events = collect(driver);
  await driver.start(spec('relist', { env: { DRASI_DOUBLE_EXIT_AFTER_MS: '8000', DRASI_DOUBLE_LOG_INTERVAL_MS: '100' } }));
  for (let i = 0; i < 3; i++) {
    cluster.kube.knobs.compactHistory();
    cluster.kube.knobs.closeAllWatches();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const exited = await events.next((event) => event.type === 'exited');
  if (exited?.type !== 'exited') return t.fail('the crash was not reported');
  t.like(exited.exit, { exitCode: 3, requested: false });
  t.truthy(await eventually(async () => (await deployment(cluster, 'relist'))?.spec?.replicas === 0));
});

test('an exit while the API server is down is reported once it answers again (relist after 410); availability says why meanwhile', async (t) => {
  const cluster = await startCluster(t, { expiredWatchAs: 'http' });
  const driver = cluster.driver();
  const events = collect(driver);
  await driver.start(spec('outage', { env: { DRASI_DOUBLE_LOG_INTERVAL_MS: '100' } }));
  const [pod] = await livePods(cluster, 'outage');
  await cluster.kube.knobs.setAvailability('refusing');
  const down = await driver.availability();
  t.false(down.available);
  // The server dies while nobody can watch; the history it would have been read from is compacted away.
  t.true(cluster.kube.knobs.oomKill('draas', pod!.metadata!.name!));
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  cluster.kube.knobs.compactHistory();
  t.is(events.events.filter((event) => event.type === 'exited').length, 0);
  await cluster.kube.knobs.setAvailability('serving');
  const exited = await events.next((event) => event.type === 'exited');
  if (exited?.type !== 'exited') return t.fail('the exit was lost');
  t.like(exited.exit, { exitCode: 137, requested: false, details: { oomKilled: true } });
  t.truthy(await eventually(async () => (await driver.availability()).available));
});

test('recover: a new driver adopts a running instance without touching it, reports one that died meanwhile as lost, and orphans', async (t) => {
  const cluster = await startCluster(t);
  const first = cluster.driver();
  const ref = await first.start(spec('keep'));
  await first.start(spec('dies', { env: { DRASI_DOUBLE_EXIT_AFTER_MS: '6000', DRASI_DOUBLE_LOG_INTERVAL_MS: '100' } }));
  const [pod] = await livePods(cluster, 'keep');
  await first.close();
  // A labelled ConfigMap without a Deployment: something nobody runs.
  await cluster.core.createNamespacedConfigMap({
    namespace: 'draas',
    body: { metadata: { name: 'draas-ghost-config', labels: { 'app.kubernetes.io/managed-by': 'draas', 'app.kubernetes.io/name': 'drasi-server', 'io.draas/instance-id': 'ghost' } }, data: {} },
  });
  t.truthy(
    await eventually(async () => {
      const [dying] = await livePods(cluster, 'dies');
      return (dying?.status?.containerStatuses?.[0]?.restartCount ?? 0) > 0;
    }, 30_000),
  );

  const second = cluster.driver();
  const report = await second.recover();
  t.deepEqual(report.adopted.map((adopted) => adopted.instanceId), ['keep']);
  t.like(report.adopted[0], { workloadId: ref.workloadId, identity: ref.identity, port: 8080, generation: 1 });
  t.deepEqual(report.lost.map((lost) => lost.instanceId), ['dies']);
  t.like(report.lost[0]!.exit, { exitCode: 3, requested: false });
  t.deepEqual(report.orphans, [{ kind: 'ConfigMap', name: 'draas/draas-ghost-config', instanceId: 'ghost', reason: 'no Deployment of its instance exists' }]);
  // The same pod, never restarted; the orphan is left alone.
  const [after] = await livePods(cluster, 'keep');
  t.is(after!.metadata?.uid, pod!.metadata?.uid);
  t.is(after!.status?.containerStatuses?.[0]?.restartCount, 0);
  await t.notThrowsAsync(cluster.core.readNamespacedConfigMap({ name: 'draas-ghost-config', namespace: 'draas' }));
  t.deepEqual((await second.list()).map((listed) => listed.instanceId), ['keep']);
  t.deepEqual(await second.start(spec('keep')), report.adopted[0]);
  // Idempotent: nothing adopted or reported twice.
  t.deepEqual(await second.recover(), { adopted: [], lost: [], orphans: [] });
  // Adopted workloads are watched and stoppable like started ones.
  const outcome = await second.stop('keep', { graceMs: 3_000 });
  t.like(outcome, { wasRunning: true, exit: { exitCode: 0, requested: true } });
});

test('reap stops the workload a lost worker ran only when the Deployment is the recorded one', async (t) => {
  const cluster = await startCluster(t);
  const first = cluster.driver();
  const ref = await first.start(spec('reaped'));
  await first.close();
  const other = cluster.driver();
  t.like(await other.reap({ ...ref, identity: 'some-other-uid' }), { reaped: false });
  const otherStart = await other.reap({ ...ref, workloadId: `${ref.workloadId.split('/').slice(0, 2).join('/')}/1-00000000` });
  t.false(otherStart.reaped);
  t.regex(otherStart.reason, /another start/);
  t.is((await livePods(cluster, 'reaped')).length, 1);
  t.like(await other.reap(ref, { graceMs: 3_000 }), { reaped: true });
  t.deepEqual(await livePods(cluster, 'reaped'), []);
  t.like(await other.reap(ref), { reaped: false });
});

test('logs: the newest lines, a follow by cursor, across a restart with a new pod (marker), and after the pod is gone', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  await driver.start(spec('logs', { env: { DRASI_DOUBLE_LOG_INTERVAL_MS: '50' } }));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const tail = await driver.logs('logs', { tail: 3 });
  t.is(tail.length, 3);
  const first = await driver.readLogs('logs', { tail: 2 });
  t.is(first.lines.length, 2);
  await new Promise((resolve) => setTimeout(resolve, 400));
  const second = await driver.readLogs('logs', { tail: 2, after: first.cursor });
  t.true(second.lines.length >= 3, second.lines.join('\n'));
  const numbers = (lines: string[]) => lines.map((line) => Number(/heartbeat #(\d+)/.exec(line)?.[1])).filter((value) => !Number.isNaN(value));
  const seen = [...numbers(first.lines), ...numbers(second.lines)];
  // Every heartbeat once, in order, nothing skipped.
  t.deepEqual(seen, Array.from({ length: seen.length }, (_, index) => seen[0]! + index));

  await driver.stop('logs', { graceMs: 3_000 });
  t.true((await driver.logs('logs', { tail: 5 })).length > 0);
  await driver.start(spec('logs', { generation: 2, env: { DRASI_DOUBLE_LOG_INTERVAL_MS: '50' } }));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const third = await driver.readLogs('logs', { tail: 2, after: second.cursor });
  const marker = third.lines.findIndex((line) => line.startsWith('— new workload'));
  t.true(marker !== -1, third.lines.join('\n'));
  t.regex(third.lines[marker]!, /generation 2/);
  // The old pod is gone, but what it printed last (its shutdown) was kept and follows once.
  t.true(third.lines.slice(0, marker).some((line) => line.includes('shutting down')), third.lines.slice(0, marker).join('\n'));
  t.deepEqual(numbers(third.lines.slice(0, marker)).filter((value) => seen.includes(value)), []);
  t.true(third.lines.slice(marker + 1).some((line) => line.includes('heartbeat')));
  // A cursor from elsewhere: a marker and the end of the log.
  const lost = await driver.readLogs('logs', { tail: 2, after: 'not-a-cursor' });
  t.is(lost.lines[0], '… log position lost (the worker restarted); continuing at the end of the log');
});

test('health: a pod that stops being ready and becomes ready again is reported through watch', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const events = collect(driver);
  await driver.start(spec('health'));
  const [pod] = await livePods(cluster, 'health');
  // Stop the server's process (SIGSTOP) so that its readiness probe fails, then let it go on.
  const pid = cluster.kube.knobs.pid('draas', pod!.metadata!.name!);
  if (pid === undefined) return t.fail('no pid');
  process.kill(pid, 'SIGSTOP');
  const unhealthy = await events.next((event) => event.type === 'health' && !event.healthy, 30_000);
  process.kill(pid, 'SIGCONT');
  t.truthy(unhealthy);
  t.truthy(await events.next((event) => event.type === 'health' && event.healthy, 30_000));
});

test('a pod that cannot be scheduled fails the start at its timeout, saying why', async (t) => {
  const cluster = await startCluster(t, { nodeCapacity: { cpu: 1, memory: 32 * 1024 ** 3 } });
  const driver = cluster.driver();
  const started = driver.start(spec('huge', { startTimeoutMs: 15_000, platformOptions: { cpus: 4 } }));
  started.catch(() => undefined);
  // The scheduler says so well before the timeout (given a loaded machine some seconds).
  t.truthy(
    await eventually(async () => {
      const [pod] = await livePods(cluster, 'huge');
      return pod?.status?.conditions?.some((condition) => condition.type === 'PodScheduled' && condition.reason === 'Unschedulable');
    }, 12_000),
  );
  const error = await t.throwsAsync(started, { instanceOf: WorkloadFailedError });
  t.regex(error.message, /within 15000 ms/);
  t.regex(error.message, /Unschedulable/);
  t.is((await deployment(cluster, 'huge'))?.spec?.replicas, 0);
});

test('an instance in another namespace (platformOptions.namespace) is watched, stopped and removed there', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  const ref = await driver.start(spec('elsewhere', { platformOptions: { namespace: 'default' } }));
  t.regex(ref.workloadId, /^default\/draas-elsewhere\//);
  const pods = await cluster.core.listNamespacedPod({ namespace: 'default', labelSelector: 'io.draas/instance-id=elsewhere' });
  t.is(pods.items.length, 1);
  t.deepEqual(await livePods(cluster, 'elsewhere'), [], 'nothing in the driver namespace');
  const outcome = await driver.stop('elsewhere', { graceMs: 3_000 });
  t.like(outcome, { wasRunning: true, exit: { exitCode: 0, requested: true } });
  await driver.remove('elsewhere', { graceMs: 3_000 });
  await t.throwsAsync(cluster.apps.readNamespacedDeployment({ name: 'draas-elsewhere', namespace: 'default' }), { message: /404/ });
});

test('a server that drops lifecycle.stopSignal (feature gate off) gets a preStop hook instead: stop still sends SIGINT and exits 0', async (t) => {
  const cluster = await startCluster(t, { featureGates: { ContainerStopSignals: false } });
  const logs: string[] = [];
  const driver = cluster.driver({ log: (message) => logs.push(message) });
  const signals = path.join(cluster.dir, 'signals');
  await driver.start(spec('hooked', { env: { DRASI_DOUBLE_SIGNAL_FILE: signals } }));
  const container = (await deployment(cluster, 'hooked'))?.spec?.template.spec?.containers[0];
  t.is(container?.lifecycle?.stopSignal, undefined);
  t.regex(container?.lifecycle?.preStop?.exec?.command?.join(' ') ?? '', /kill -INT 1/);
  t.true(logs.some((line) => line.includes('preStop')));
  const outcome = await driver.stop('hooked', { graceMs: 5_000 });
  t.like(outcome, { wasRunning: true, exit: { exitCode: 0, requested: true } });
  t.deepEqual(readFileSync(signals, 'utf8').trim().split('\n'), ['SIGINT'], 'SIGINT only: the hook waits for the exit, so no SIGTERM follows');
  // Later starts render the hook at once.
  await driver.start(spec('hooked', { generation: 2 }));
  t.is((await deployment(cluster, 'hooked'))?.spec?.template.spec?.containers[0]?.lifecycle?.stopSignal, undefined);
});
