/**
 * The Deployment controller and the kubelet of the Kubernetes API double:
 * pods run as real processes of the Drasi Server test double, report
 * readiness from its /health, crash-loop, fail to pull, wait for their
 * ConfigMap, serve logs and stop the way a kubelet stops containers.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { pods as podResource } from '../fixtures/kube-api/resources.js';
import { isAlive } from '../helpers/processes.js';
import { drasiServerImageEntry, startKubeApiDouble, type KubeApiDoubleHandle } from '../helpers/kube-api.js';
import { eventually, field, items, kubeRequest, names, WatchReader, type WatchEvent } from '../helpers/kube-http.js';

let kube: KubeApiDoubleHandle;
let scratch: string;

test.before(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'kube-workloads-'));
  kube = await startKubeApiDouble({
    namespace: 'workloads',
    timeScale: 0.1,
    crashLoopBackoffBaseMs: 300,
    // The backoff resets after a run of twice the cap: keep that well above a slow start of the double.
    crashLoopBackoffCapMs: 5_000,
    imagePullBackoffBaseMs: 300,
    imagePullBackoffCapMs: 600,
    retryMs: 200,
    nodeCapacity: { cpu: 4, memory: 8 * 1024 ** 3 },
    // An image whose STOPSIGNAL is SIGINT (what a Drasi Server image could declare).
    images: { 'drasi-server-sigint': drasiServerImageEntry('SIGINT') },
  });
});

test.after.always(async () => {
  await kube?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function namespace(name: string): Promise<string> {
  const created = await kubeRequest(kube, 'POST', '/api/v1/namespaces', { body: { metadata: { name } } });
  if (created.status !== 201) throw new Error(created.text);
  return name;
}

const drasiConfig = (id: string) => `id: ${id}\nhost: 127.0.0.1\nport: 8080\nlogLevel: info\npersistConfig: false\n`;

async function createConfigMap(ns: string, name: string, id = name): Promise<void> {
  const created = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { metadata: { name }, data: { 'server.yaml': drasiConfig(id) } } });
  if (created.status !== 201) throw new Error(created.text);
}

interface ContainerOptions {
  env?: Record<string, string>;
  envFrom?: unknown[];
  command?: string[];
  probes?: Record<string, unknown>;
  image?: string;
  configMap?: string;
  lifecycle?: unknown;
  resources?: unknown;
}

/** A pod spec that runs the Drasi Server double with its config from a ConfigMap and a readiness probe on /health. */
function podSpec(options: ContainerOptions & { grace?: number; os?: boolean; restartPolicy?: string }): Record<string, unknown> {
  return {
    ...(options.os ? { os: { name: 'linux' } } : {}),
    ...(options.restartPolicy !== undefined ? { restartPolicy: options.restartPolicy } : {}),
    terminationGracePeriodSeconds: options.grace ?? 30,
    volumes: [{ name: 'config', configMap: { name: options.configMap ?? 'config' } }],
    containers: [
      {
        name: 'drasi',
        image: options.image ?? 'drasi-server:0.2.0',
        args: ['--config', '/etc/drasi/server.yaml', '--port', '8080'],
        ports: [{ name: 'http', containerPort: 8080 }],
        ...(options.command !== undefined ? { command: options.command } : {}),
        env: [...Object.entries(options.env ?? {}).map(([name, value]) => ({ name, value })), ...(options.envFrom ?? [])],
        volumeMounts: [{ name: 'config', mountPath: '/etc/drasi' }],
        readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 2, failureThreshold: 3 },
        ...(options.probes ?? {}),
        ...(options.lifecycle !== undefined ? { lifecycle: options.lifecycle } : {}),
        ...(options.resources !== undefined ? { resources: options.resources } : {}),
      },
    ],
  };
}

async function createPod(ns: string, name: string, options: Parameters<typeof podSpec>[0] = {}): Promise<void> {
  const created = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/pods`, { body: { metadata: { name, labels: { app: name } }, spec: podSpec(options) } });
  if (created.status !== 201) throw new Error(created.text);
}

async function getPod(ns: string, name: string): Promise<unknown> {
  return (await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods/${name}`)).body;
}

function condition(pod: unknown, type: string): unknown {
  const conditions = field(pod, 'status.conditions');
  return Array.isArray(conditions) ? conditions.find((entry) => field(entry, 'type') === type) : undefined;
}

async function podWhere(ns: string, name: string, what: string, predicate: (pod: unknown) => boolean, timeoutMs = 30_000): Promise<unknown> {
  let last: unknown;
  try {
    return await eventually(async () => {
      last = await getPod(ns, name);
      return predicate(last) ? last : undefined;
    }, `pod ${ns}/${name}: ${what}`, timeoutMs);
  } catch (error) {
    // Say where the pod got stuck.
    throw new Error(`${error instanceof Error ? error.message : String(error)}; last status: ${JSON.stringify(field(last, 'status'))}`);
  }
}

const isReady = (pod: unknown) => field(condition(pod, 'Ready'), 'status') === 'True';

function health(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function logs(ns: string, pod: string, query = ''): Promise<{ status: number; text: string }> {
  const response = await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods/${pod}/log${query}`);
  return { status: response.status, text: response.text };
}

/** Deletes a pod and returns the last state its watch reported (the DELETED event carries the final status). */
async function deleteAndWatch(ns: string, pod: string): Promise<WatchEvent> {
  const version = String(field((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods`)).body, 'metadata.resourceVersion'));
  const watch = new WatchReader(kube, `/api/v1/namespaces/${ns}/pods?watch=true&resourceVersion=${version}&fieldSelector=metadata.name%3D${pod}`);
  try {
    const deleted = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/pods/${pod}`);
    if (deleted.status !== 200) throw new Error(deleted.text);
    return await watch.next((event) => event.type === 'DELETED', 40_000);
  } finally {
    watch.close();
  }
}

test('a Deployment with strategy Recreate rolls out through ReplicaSets and never runs two pods at once', async (t) => {
  const ns = await namespace('recreate');
  await createConfigMap(ns, 'config', 'recreate');
  const deployment = (marker: string) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'drasi', labels: { app: 'drasi' } },
    spec: {
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { app: 'drasi' } },
      template: { metadata: { labels: { app: 'drasi' } }, spec: podSpec({ env: { MARKER: marker } }) },
    },
  });
  const created = await kubeRequest(kube, 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, { body: deployment('one') });
  t.is(created.status, 201);
  t.is(field(created.body, 'metadata.generation'), 1);
  t.like(created.body, { spec: { strategy: { type: 'Recreate' }, revisionHistoryLimit: 10, progressDeadlineSeconds: 600 } });

  const available = async (generation: number) =>
    eventually(async () => {
      const current = (await kubeRequest(kube, 'GET', `/apis/apps/v1/namespaces/${ns}/deployments/drasi`)).body;
      return field(current, 'status.observedGeneration') === generation && field(current, 'status.readyReplicas') === 1 && field(current, 'status.updatedReplicas') === 1 && field(current, 'status.replicas') === 1
        ? current
        : undefined;
    }, `generation ${generation} available`);
  const first = await available(1);
  t.like(first, { status: { availableReplicas: 1 } });
  const conditions = field(first, 'status.conditions') as unknown[];
  t.like(conditions.find((entry) => field(entry, 'type') === 'Available'), { status: 'True', reason: 'MinimumReplicasAvailable' });
  t.like(conditions.find((entry) => field(entry, 'type') === 'Progressing'), { status: 'True', reason: 'NewReplicaSetAvailable' });

  const replicaSets = (await kubeRequest(kube, 'GET', `/apis/apps/v1/namespaces/${ns}/replicasets`)).body;
  t.is(items(replicaSets).length, 1);
  const replicaSet = items(replicaSets)[0];
  const hash = String(field(replicaSet, 'metadata.labels.pod-template-hash'));
  t.is(field(replicaSet, 'metadata.name'), `drasi-${hash}`);
  t.like(field(replicaSet, 'metadata.ownerReferences.0'), { kind: 'Deployment', name: 'drasi', uid: field(created.body, 'metadata.uid'), controller: true });
  const podList = (await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Ddrasi`)).body;
  const [podName = ''] = names(podList);
  t.regex(podName, new RegExp(`^drasi-${hash}-[a-z0-9]{5}$`));
  const pod = items(podList)[0];
  t.like(pod, { metadata: { labels: { app: 'drasi', 'pod-template-hash': hash }, ownerReferences: [{ kind: 'ReplicaSet', name: `drasi-${hash}` }] }, status: { phase: 'Running', podIP: '127.0.0.1' } });
  for (const type of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) t.is(field(condition(pod, type), 'status'), 'True', type);
  t.like(field(pod, 'status.containerStatuses.0'), { name: 'drasi', ready: true, started: true, restartCount: 0 });
  const port = kube.knobs.hostPort(ns, podName);
  t.truthy(port);
  t.is(await health(port ?? 0), 200);

  // Sample every pod's process while the template changes: at most one may be alive at any moment.
  let sampling = true;
  let mostAlive = 0;
  const pids = new Set<number>();
  const sampler = (async () => {
    while (sampling) {
      for (const pod of kube.store.list(podResource, ns)) {
        const pid = kube.knobs.pid(ns, pod.metadata.name);
        if (pid !== undefined) pids.add(pid);
      }
      mostAlive = Math.max(mostAlive, [...pids].filter(isAlive).length);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  const updated = await kubeRequest(kube, 'PUT', `/apis/apps/v1/namespaces/${ns}/deployments/drasi`, { body: deployment('two') });
  t.is(field(updated.body, 'metadata.generation'), 2);
  const second = await available(2);
  sampling = false;
  await sampler;
  t.is(mostAlive, 1);
  t.true(pids.size >= 2);
  t.like(second, { status: { updatedReplicas: 1, readyReplicas: 1 } });
  const afterRollout = items((await kubeRequest(kube, 'GET', `/apis/apps/v1/namespaces/${ns}/replicasets`)).body);
  t.is(afterRollout.length, 2);
  t.deepEqual(afterRollout.map((entry) => field(entry, 'spec.replicas')).sort(), [0, 1]);

  // Scaling goes through the scale subresource, as `kubectl scale` does.
  await kubeRequest(kube, 'PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/drasi/scale`, { body: { spec: { replicas: 0 } }, contentType: 'application/merge-patch+json' });
  await eventually(async () => (items((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods`)).body).length === 0 ? true : undefined), 'scaled to zero');
});

test('a RollingUpdate Deployment replaces its pods and ends with the new ReplicaSet ready', async (t) => {
  const ns = await namespace('rolling');
  await createConfigMap(ns, 'config', 'rolling');
  const deployment = (marker: string) => ({
    metadata: { name: 'web' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: podSpec({ env: { MARKER: marker } }) } },
  });
  await kubeRequest(kube, 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, { body: deployment('one') });
  const ready = (generation: number) =>
    eventually(async () => {
      const current = (await kubeRequest(kube, 'GET', `/apis/apps/v1/namespaces/${ns}/deployments/web`)).body;
      return field(current, 'status.observedGeneration') === generation && field(current, 'status.updatedReplicas') === 2 && field(current, 'status.availableReplicas') === 2 && field(current, 'status.replicas') === 2
        ? current
        : undefined;
    }, `generation ${generation} rolled out`, 60_000);
  const first = await ready(1);
  t.like(first, { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } } });
  await kubeRequest(kube, 'PUT', `/apis/apps/v1/namespaces/${ns}/deployments/web`, { body: deployment('two') });
  await ready(2);
  const pods = items((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods`)).body).filter((pod) => field(pod, 'metadata.deletionTimestamp') === undefined);
  t.is(pods.length, 2);
  t.true(pods.every((pod) => field(pod, 'spec.containers.0.env.0.value') === 'two'));
});

test('a crashing container restarts with a growing CrashLoopBackOff and keeps its last state and previous log', async (t) => {
  const ns = await namespace('crashing');
  await createConfigMap(ns, 'config', 'crashing');
  // A watch sees every status the kubelet writes, so the short CrashLoopBackOff windows cannot slip between polls.
  const version = String(field((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods`)).body, 'metadata.resourceVersion'));
  const watch = new WatchReader(kube, `/api/v1/namespaces/${ns}/pods?watch=true&resourceVersion=${version}`);
  t.teardown(() => watch.close());
  await createPod(ns, 'crash', { env: { DRASI_DOUBLE_EXIT_AFTER_MS: '200', DRASI_DOUBLE_EXIT_CODE: '3' } });
  const backOff = await watch.next((event) => field(event.object, 'status.containerStatuses.0.state.waiting.reason') === 'CrashLoopBackOff', 60_000);
  t.regex(String(field(backOff.object, 'status.containerStatuses.0.state.waiting.message')), /^back-off \d+s restarting failed container=drasi pod=crash_crashing\(/);
  t.like(field(backOff.object, 'status.containerStatuses.0.lastState.terminated'), { exitCode: 3, reason: 'Error' });
  t.is(field(backOff.object, 'status.phase'), 'Running');
  await podWhere(ns, 'crash', 'restarted twice', (current) => Number(field(current, 'status.containerStatuses.0.restartCount')) >= 2, 60_000);
  const previous = await logs(ns, 'crash', '?previous=true');
  t.is(previous.status, 200);
  t.regex(previous.text, /exiting by itself with code 3/);
  const events = items((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/events`)).body);
  t.true(events.some((event) => field(event, 'reason') === 'BackOff' && field(event, 'involvedObject.name') === 'crash'));
});

test('an image that is not in the image table fails with ErrImagePull, then ImagePullBackOff', async (t) => {
  const ns = await namespace('pulling');
  await createConfigMap(ns, 'config');
  await createPod(ns, 'unknown', { image: 'registry.invalid/nothing:1' });
  const pulling = await podWhere(ns, 'unknown', 'ErrImagePull', (pod) => field(pod, 'status.containerStatuses.0.state.waiting.reason') === 'ErrImagePull');
  t.is(field(pulling, 'status.phase'), 'Pending');
  await podWhere(ns, 'unknown', 'ImagePullBackOff', (pod) => field(pod, 'status.containerStatuses.0.state.waiting.reason') === 'ImagePullBackOff');
  const noLogs = await logs(ns, 'unknown');
  t.is(noLogs.status, 400);
  t.regex(noLogs.text, /is waiting to start/);
});

test('a pod whose ConfigMap is missing waits in ContainerCreating with FailedMount events, and starts once it exists', async (t) => {
  const ns = await namespace('mounting');
  await createPod(ns, 'waiting', { configMap: 'late' });
  const waiting = await podWhere(ns, 'waiting', 'ContainerCreating', (pod) => field(pod, 'status.containerStatuses.0.state.waiting.reason') === 'ContainerCreating');
  t.is(field(waiting, 'status.phase'), 'Pending');
  const failedMount = await eventually(async () => {
    const events = items((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/events`)).body);
    return events.find((event) => field(event, 'reason') === 'FailedMount');
  }, 'FailedMount event');
  t.is(field(failedMount, 'message'), 'MountVolume.SetUp failed for volume "config" : configmap "late" not found');
  t.is(field(failedMount, 'type'), 'Warning');
  await createConfigMap(ns, 'late', 'late');
  const ready = await podWhere(ns, 'waiting', 'Ready', isReady);
  t.is(field(ready, 'status.phase'), 'Running');
});

test('pods/log serves the output with tailLines, timestamps, sinceTime and follow until the container ends', async (t) => {
  const ns = await namespace('logging');
  await createConfigMap(ns, 'config', 'logging');
  await createPod(ns, 'talker', { env: { DRASI_DOUBLE_LOG_INTERVAL_MS: '100', DRASI_DOUBLE_EXIT_AFTER_MS: '6000', DRASI_DOUBLE_EXIT_CODE: '0' }, restartPolicy: 'Never' });
  await podWhere(ns, 'talker', 'Ready', isReady);
  const all = await logs(ns, 'talker');
  t.is(all.status, 200);
  t.regex(all.text, /"event":"started"/);
  const tail = await logs(ns, 'talker', '?tailLines=2');
  t.is(tail.text.split('\n').filter((line) => line !== '').length, 2);
  const stamped = await logs(ns, 'talker', '?tailLines=1&timestamps=true');
  t.regex(stamped.text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /);
  const future = await logs(ns, 'talker', `?sinceTime=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
  t.is(future.text, '');
  const wrongContainer = await logs(ns, 'talker', '?container=other');
  t.is(wrongContainer.status, 400);
  const noPrevious = await logs(ns, 'talker', '?previous=true');
  t.is(noPrevious.status, 400);
  t.like(JSON.parse(noPrevious.text), { kind: 'Status', reason: 'BadRequest', message: 'previous terminated container "drasi" in pod "talker" not found' });

  // follow=true streams until the container exits by itself (6 s after it started serving; if a slow
  // machine got here later, the last line is the exit line all the same).
  const response = await fetch(`${kube.url}/api/v1/namespaces/${ns}/pods/talker/log?follow=true&tailLines=5`, { headers: { Authorization: `Bearer ${kube.token}` } });
  t.is(response.status, 200);
  const followed = await response.text();
  t.regex(followed, /exiting by itself with code 0/);
  const finished = await podWhere(ns, 'talker', 'Succeeded', (pod) => field(pod, 'status.phase') === 'Succeeded');
  t.like(field(finished, 'status.containerStatuses.0.state.terminated'), { exitCode: 0, reason: 'Completed' });
});

test('deleting a pod with lifecycle.stopSignal SIGINT stops the server gracefully (exit 0)', async (t) => {
  const ns = await namespace('stop-signal');
  await createConfigMap(ns, 'config', 'stop-signal');
  const signals = path.join(scratch, 'stop-signal.txt');
  await createPod(ns, 'graceful', { os: true, lifecycle: { stopSignal: 'SIGINT' }, env: { DRASI_DOUBLE_SIGNAL_FILE: signals } });
  await podWhere(ns, 'graceful', 'Ready', isReady);
  const last = await deleteAndWatch(ns, 'graceful');
  t.like(field(last.object, 'status.containerStatuses.0.state.terminated'), { exitCode: 0, reason: 'Completed' });
  t.is(field(last.object, 'status.phase'), 'Succeeded');
  t.deepEqual(readFileSync(signals, 'utf8').trim().split('\n'), ['SIGINT']);
});

test('a preStop hook `kill -INT 1` that waits for the exit stops the server gracefully before SIGTERM', async (t) => {
  const ns = await namespace('prestop');
  await createConfigMap(ns, 'config', 'prestop');
  const signals = path.join(scratch, 'prestop.txt');
  await createPod(ns, 'hooked', {
    lifecycle: { preStop: { exec: { command: ['/bin/sh', '-c', 'kill -INT 1; while kill -0 1 2>/dev/null; do sleep 1; done'] } } },
    env: { DRASI_DOUBLE_SIGNAL_FILE: signals },
  });
  await podWhere(ns, 'hooked', 'Ready', isReady);
  const last = await deleteAndWatch(ns, 'hooked');
  t.like(field(last.object, 'status.containerStatuses.0.state.terminated'), { exitCode: 0, reason: 'Completed' });
  t.deepEqual(readFileSync(signals, 'utf8').trim().split('\n'), ['SIGINT']);
});

test('a container that ignores its stop signal is SIGKILLed when the grace period ends (exit 137)', async (t) => {
  const ns = await namespace('stubborn');
  await createConfigMap(ns, 'config', 'stubborn');
  const signals = path.join(scratch, 'stubborn.txt');
  // terminationGracePeriodSeconds 20 at timeScale 0.1: two seconds.
  await createPod(ns, 'stubborn', { os: true, grace: 20, lifecycle: { stopSignal: 'SIGINT' }, env: { DRASI_DOUBLE_SIGNAL_FILE: signals, DRASI_DOUBLE_IGNORE_SIGINT: '1' } });
  await podWhere(ns, 'stubborn', 'Ready', isReady);
  const pid = kube.knobs.pid(ns, 'stubborn');
  const last = await deleteAndWatch(ns, 'stubborn');
  t.like(field(last.object, 'status.containerStatuses.0.state.terminated'), { exitCode: 137, signal: 9, reason: 'Error' });
  t.is(field(last.object, 'status.phase'), 'Failed');
  t.deepEqual(readFileSync(signals, 'utf8').trim().split('\n'), ['SIGINT']);
  t.false(isAlive(pid ?? 0));
});

test('the default stop signal is SIGTERM, which the Drasi Server double does not handle (exit 143)', async (t) => {
  const ns = await namespace('sigterm');
  await createConfigMap(ns, 'config', 'sigterm');
  await createPod(ns, 'plain');
  await podWhere(ns, 'plain', 'Ready', isReady);
  const last = await deleteAndWatch(ns, 'plain');
  t.like(field(last.object, 'status.containerStatuses.0.state.terminated'), { exitCode: 143, signal: 15, reason: 'Error' });
});

test('a pod requesting more than the node has stays Pending and Unschedulable until capacity allows it', async (t) => {
  const ns = await namespace('capacity');
  await createConfigMap(ns, 'config', 'capacity');
  await createPod(ns, 'big', { resources: { requests: { memory: '64Gi' } } });
  const pending = await podWhere(ns, 'big', 'Unschedulable', (pod) => field(condition(pod, 'PodScheduled'), 'reason') === 'Unschedulable');
  t.like(condition(pending, 'PodScheduled'), { status: 'False', reason: 'Unschedulable' });
  t.regex(String(field(condition(pending, 'PodScheduled'), 'message')), /^0\/1 nodes are available: 1 Insufficient memory/);
  t.is(field(pending, 'spec.nodeName'), undefined);
  t.is(field(pending, 'status.phase'), 'Pending');
  // Other tests' pods run on the same node: give back the memory before shrinking the node again.
  kube.knobs.setNodeCapacity({ cpu: 4, memory: 128 * 1024 ** 3 });
  try {
    const scheduled = await podWhere(ns, 'big', 'Ready once it fits', isReady);
    t.is(field(scheduled, 'spec.nodeName'), 'kube-double-node');
    t.is(field(condition(scheduled, 'PodScheduled'), 'status'), 'True');
    await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/pods/big?gracePeriodSeconds=0`);
  } finally {
    kube.knobs.setNodeCapacity({ cpu: 4, memory: 8 * 1024 ** 3 });
  }
});

test('the OOM knob kills a container with SIGKILL and reports OOMKilled; it restarts', async (t) => {
  const ns = await namespace('oom');
  await createConfigMap(ns, 'config', 'oom');
  await createPod(ns, 'hungry');
  await podWhere(ns, 'hungry', 'Ready', isReady);
  t.true(kube.knobs.oomKill(ns, 'hungry'));
  const pod = await podWhere(ns, 'hungry', 'restarted after the OOM kill', (current) => field(current, 'status.containerStatuses.0.restartCount') === 1);
  t.like(field(pod, 'status.containerStatuses.0.lastState.terminated'), { exitCode: 137, reason: 'OOMKilled' });
  await podWhere(ns, 'hungry', 'Ready again', isReady);
});

test('an image table entry can declare the image STOPSIGNAL, used when the container sets none', async (t) => {
  const ns = await namespace('image-stop-signal');
  await createConfigMap(ns, 'config', 'image-stop-signal');
  const signals = path.join(scratch, 'image-stop-signal.txt');
  await createPod(ns, 'imaged', { image: 'drasi-server-sigint:1.0', env: { DRASI_DOUBLE_SIGNAL_FILE: signals } });
  await podWhere(ns, 'imaged', 'Ready', isReady);
  const last = await deleteAndWatch(ns, 'imaged');
  t.like(field(last.object, 'status.containerStatuses.0.state.terminated'), { exitCode: 0, reason: 'Completed' });
  t.deepEqual(readFileSync(signals, 'utf8').trim().split('\n'), ['SIGINT']);
});

test('env from configMapKeyRef: a missing key is CreateContainerConfigError until the ConfigMap has it', async (t) => {
  const ns = await namespace('env-ref');
  await createConfigMap(ns, 'config', 'env-ref');
  await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { metadata: { name: 'settings' }, data: {} } });
  await createPod(ns, 'referencing', { envFrom: [{ name: 'DRASI_DOUBLE_ECHO_LINE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'echo' } } }] });
  const waiting = await podWhere(ns, 'referencing', 'CreateContainerConfigError', (pod) => field(pod, 'status.containerStatuses.0.state.waiting.reason') === 'CreateContainerConfigError');
  t.is(field(waiting, 'status.containerStatuses.0.state.waiting.message'), `couldn't find key echo in ConfigMap ${ns}/settings`);
  await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/settings`, { body: { data: { echo: 'echo-from-configmap' } }, contentType: 'application/merge-patch+json' });
  await podWhere(ns, 'referencing', 'Ready', isReady);
  await eventually(async () => ((await logs(ns, 'referencing')).text.includes('echo-from-configmap') ? true : undefined), 'the env value reached the process');
  t.pass();
});

test('a command that is not the image binary fails to start (StartError, exit 128) and backs off', async (t) => {
  const ns = await namespace('start-error');
  await createConfigMap(ns, 'config', 'start-error');
  await createPod(ns, 'bad-command', { command: ['/bin/not-in-this-image'] });
  const pod = await podWhere(ns, 'bad-command', 'StartError', (current) => field(current, 'status.containerStatuses.0.lastState.terminated.reason') === 'StartError');
  t.is(field(pod, 'status.containerStatuses.0.lastState.terminated.exitCode'), 128);
  t.regex(String(field(pod, 'status.containerStatuses.0.lastState.terminated.message')), /executable file not found in \$PATH/);
  await podWhere(ns, 'bad-command', 'CrashLoopBackOff', (current) => field(current, 'status.containerStatuses.0.state.waiting.reason') === 'CrashLoopBackOff');
});

test('a startup probe gates `started`; a failing liveness probe restarts the container', async (t) => {
  const ns = await namespace('probes');
  await createConfigMap(ns, 'config', 'probes');
  await createPod(ns, 'slow', {
    env: { DRASI_DOUBLE_STARTUP_DELAY_MS: '1500' },
    probes: { startupProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 2, failureThreshold: 30 } },
  });
  const starting = await podWhere(ns, 'slow', 'running, not started', (pod) => field(pod, 'status.containerStatuses.0.state.running') !== undefined);
  t.is(field(starting, 'status.containerStatuses.0.started'), false);
  const started = await podWhere(ns, 'slow', 'Ready', isReady);
  t.is(field(started, 'status.containerStatuses.0.started'), true);

  await createPod(ns, 'unhealthy', { probes: { livenessProbe: { httpGet: { path: '/no-such-path', port: 'http' }, initialDelaySeconds: 50, periodSeconds: 2, failureThreshold: 2 } } });
  const restarted = await podWhere(ns, 'unhealthy', 'restarted by the liveness probe', (pod) => Number(field(pod, 'status.containerStatuses.0.restartCount')) >= 1);
  t.like(field(restarted, 'status.containerStatuses.0.lastState.terminated'), { reason: 'Error' });
  const events = items((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent('metadata.namespace=' + ns)}`)).body);
  const unhealthy = events.filter((event) => field(event, 'reason') === 'Unhealthy' && field(event, 'involvedObject.name') === 'unhealthy').map((event) => String(field(event, 'message')));
  t.true(unhealthy.some((message) => /^Liveness probe failed: HTTP probe failed with statuscode: 404$/.test(message)), unhealthy.join(' / '));
});

test('a force delete (gracePeriodSeconds=0) removes the pod at once and the kubelet kills its process', async (t) => {
  const ns = await namespace('force');
  await createConfigMap(ns, 'config', 'force');
  await createPod(ns, 'forced');
  await podWhere(ns, 'forced', 'Ready', isReady);
  const pid = kube.knobs.pid(ns, 'forced');
  t.truthy(pid);
  const deleted = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/pods/forced?gracePeriodSeconds=0`);
  t.is(deleted.status, 200);
  t.is((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/pods/forced`)).status, 404);
  await eventually(() => (isAlive(pid ?? 0) ? undefined : true), 'process gone', 30_000);
  t.pass();
});

test('a Service resolves to the host port of its ready pod', async (t) => {
  const ns = await namespace('service');
  await createConfigMap(ns, 'config', 'service');
  await createPod(ns, 'backend');
  const created = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/services`, { body: { metadata: { name: 'api' }, spec: { selector: { app: 'backend' }, ports: [{ port: 80, targetPort: 8080 }] } } });
  t.is(created.status, 201);
  t.like(created.body, { spec: { type: 'ClusterIP', ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }] } });
  await podWhere(ns, 'backend', 'Ready', isReady);
  const port = kube.knobs.serviceHostPort(ns, 'api');
  t.is(port, kube.knobs.hostPort(ns, 'backend'));
  t.is(await health(port ?? 0), 200);
});

test('a changed ConfigMap reaches the files mounted in a running pod', async (t) => {
  const ns = await namespace('resync');
  await createConfigMap(ns, 'config', 'resync-one');
  await createPod(ns, 'mounted');
  await podWhere(ns, 'mounted', 'Ready', isReady);
  const file = kube.knobs.hostPath(ns, 'mounted', '/etc/drasi/server.yaml');
  t.truthy(file);
  t.regex(readFileSync(file ?? '', 'utf8'), /^id: resync-one$/m);
  await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/config`, { body: { data: { 'server.yaml': drasiConfig('resync-two') } }, contentType: 'application/merge-patch+json' });
  await eventually(() => (readFileSync(file ?? '', 'utf8').includes('id: resync-two') ? true : undefined), 'the mounted file follows the ConfigMap');
  t.pass();
});

test('a Deployment whose pods never get ready reports ProgressDeadlineExceeded', async (t) => {
  const ns = await namespace('deadline');
  await createConfigMap(ns, 'config', 'deadline');
  await kubeRequest(kube, 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
    body: {
      metadata: { name: 'stuck' },
      // 30 s at timeScale 0.1.
      spec: { replicas: 1, progressDeadlineSeconds: 30, selector: { matchLabels: { app: 'stuck' } }, template: { metadata: { labels: { app: 'stuck' } }, spec: podSpec({ image: 'missing-image:1' }) } },
    },
  });
  const stuck = await eventually(async () => {
    const current = (await kubeRequest(kube, 'GET', `/apis/apps/v1/namespaces/${ns}/deployments/stuck`)).body;
    const conditions = field(current, 'status.conditions');
    const progressing = Array.isArray(conditions) ? conditions.find((entry) => field(entry, 'type') === 'Progressing') : undefined;
    return field(progressing, 'reason') === 'ProgressDeadlineExceeded' ? current : undefined;
  }, 'ProgressDeadlineExceeded');
  const conditions = field(stuck, 'status.conditions') as unknown[];
  t.like(conditions.find((entry) => field(entry, 'type') === 'Progressing'), { status: 'False', reason: 'ProgressDeadlineExceeded' });
  t.like(conditions.find((entry) => field(entry, 'type') === 'Available'), { status: 'False', reason: 'MinimumReplicasUnavailable' });
  t.is(field(stuck, 'status.unavailableReplicas'), 1);
});
