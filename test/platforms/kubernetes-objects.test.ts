/**
 * The Kubernetes platform's pure parts, without a cluster: the options
 * schema, the rendered objects, what pods and Deployments say about a start
 * or a running workload, and which kubeconfig is chosen.
 */
import test from 'ava';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import type { WorkloadSpec } from '../../src/platforms/driver.js';
import { KubeconfigError, kubeconfigSource } from '../../src/platforms/kubeconfig-source.js';
import { loadKubeconfig } from '../../src/platforms/kubernetes-config.js';
import {
  keepsStopSignal,
  objectFacts,
  renderInstanceObjects,
  resolveKubernetesOptions,
  supportsStopSignal,
} from '../../src/platforms/kubernetes-objects.js';
import { kubernetesPlatformOptionsSchema } from '../../src/platforms/kubernetes-options.js';
import { assessRunning, assessStart, describeFailure, mountFailure, observedExit } from '../../src/platforms/kubernetes-status.js';
import { platformOptionSchemas } from '../../src/platforms/platform-options.js';

const spec: WorkloadSpec = {
  instanceId: 'analytics',
  generation: 3,
  config: { id: 'analytics', host: '127.0.0.1', logLevel: 'info', persistConfig: false },
  env: { DB_PASSWORD: 'secret' },
  startTimeoutMs: 10_000,
};

const labels = { 'app.kubernetes.io/managed-by': 'draas', 'app.kubernetes.io/name': 'drasi-server', 'io.draas/instance-id': 'analytics' };

function render(overrides: Partial<Parameters<typeof renderInstanceObjects>[0]> = {}) {
  return renderInstanceObjects({
    spec,
    options: resolveKubernetesOptions({}, { namespace: 'draas', image: 'example/drasi:1' }),
    port: 8080,
    graceMs: 10_000,
    stopSignal: 'stop-signal',
    startId: '3-abcd',
    ...overrides,
  });
}

// ---------------------------------------------------------------- options

test('platform options: the kubernetes schema is registered and strict, with messages that name the field', (t) => {
  const schema = platformOptionSchemas.kubernetes;
  t.true(schema.safeParse({}).success);
  t.true(
    schema.safeParse({
      namespace: 'team-a',
      image: 'registry:5000/drasi/drasi-server:0.2.1',
      memoryMb: 512,
      cpus: 0.5,
      storage: { size: '1Gi', storageClassName: 'fast.ssd', accessMode: 'ReadWriteOncePod' },
      imagePullSecrets: ['registry-creds'],
      serviceAccountName: 'drasi',
    }).success,
  );
  for (const bad of [{ namespace: 'Team_A' }, { image: 'Not An Image' }, { memoryMb: 1.5 }, { cpus: 0 }, { storage: { size: '1GB' } }, { storage: {} }, { imagePullSecrets: ['UPPER'] }, { privileged: true }, { storage: { size: '1Gi', mode: 'x' } }]) {
    t.false(schema.safeParse(bad).success, JSON.stringify(bad));
  }
  const parsed = kubernetesPlatformOptionsSchema.safeParse({ namespace: 'Team_A' });
  t.false(parsed.success);
  t.regex(parsed.error!.issues[0]!.message, /DNS-1123 label/);
});

// ---------------------------------------------------------------- objects

test('objects: all four share the labels and the generation annotation, and live in the instance namespace', (t) => {
  const objects = renderInstanceObjects({
    spec,
    options: resolveKubernetesOptions({ namespace: 'team-a', storage: { size: '1Gi' } }, { namespace: 'draas', image: 'example/drasi:1' }),
    port: 8080,
    graceMs: 10_000,
    stopSignal: 'stop-signal',
    startId: '3-abcd',
  });
  for (const object of [objects.configMap, objects.deployment, objects.service, objects.claim!]) {
    t.deepEqual(object.metadata?.labels, labels);
    t.is(object.metadata?.namespace, 'team-a');
    t.is(object.metadata?.annotations?.['io.draas/generation'], '3');
    t.like(objectFacts(object.metadata), { instanceId: 'analytics', generation: 3, port: 8080 });
  }
  t.is(objectFacts(objects.deployment.metadata)?.startId, '3-abcd');
  t.is(objectFacts(objects.configMap.metadata)?.startId, undefined);
  t.is(objects.deployment.metadata?.name, 'draas-analytics');
  t.is(objects.service.metadata?.name, 'draas-analytics');
  t.is(objects.configMap.metadata?.name, 'draas-analytics-config');
  t.is(objects.claim?.metadata?.name, 'draas-analytics-data');
  t.deepEqual(objects.claim?.spec?.resources?.requests, { storage: '1Gi' });
  t.deepEqual(objects.claim?.spec?.accessModes, ['ReadWriteOnce']);
});

test('objects: the ConfigMap holds server.yaml with the port and host 0.0.0.0 (probes and the Service reach the pod address)', (t) => {
  const { configMap } = render({ port: 9000 });
  const config = parse(configMap.data!['server.yaml']!) as Record<string, unknown>;
  t.like(config, { id: 'analytics', host: '0.0.0.0', port: 9000, persistConfig: false });
});

test('objects: one replica, Recreate, args, probes on /health, SIGINT stop signal, grace, data volume, no limits unless asked', (t) => {
  const { deployment, service } = render();
  const podSpec = deployment.spec!.template.spec!;
  const container = podSpec.containers[0]!;
  t.is(deployment.spec!.replicas, 1);
  t.deepEqual(deployment.spec!.strategy, { type: 'Recreate' });
  t.deepEqual(deployment.spec!.selector.matchLabels, labels);
  t.deepEqual(deployment.spec!.template.metadata?.labels, labels);
  t.deepEqual(deployment.spec!.template.metadata?.annotations, { 'io.draas/generation': '3', 'io.draas/port': '8080', 'io.draas/start-id': '3-abcd' });
  t.is(container.image, 'example/drasi:1');
  t.deepEqual(container.args, ['--config', '/app/config/server.yaml', '--port', '8080']);
  t.deepEqual(container.env, [{ name: 'DB_PASSWORD', value: 'secret' }]);
  t.deepEqual(container.readinessProbe?.httpGet, { path: '/health', port: 8080 });
  t.deepEqual(container.startupProbe?.httpGet, { path: '/health', port: 8080 });
  t.deepEqual(container.lifecycle, { stopSignal: 'SIGINT' });
  t.deepEqual(podSpec.os, { name: 'linux' });
  t.is(podSpec.terminationGracePeriodSeconds, 10);
  t.is(container.resources, undefined);
  t.deepEqual(podSpec.volumes, [
    { name: 'config', configMap: { name: 'draas-analytics-config' } },
    { name: 'data', emptyDir: {} },
  ]);
  t.deepEqual(container.volumeMounts?.map((mount) => mount.mountPath), ['/app/config', '/app/data']);
  t.is(podSpec.imagePullSecrets, undefined);
  t.is(podSpec.serviceAccountName, undefined);
  t.false(podSpec.automountServiceAccountToken, 'no API token in a pod that did not ask for an account');
  t.false(podSpec.enableServiceLinks);
  t.true(keepsStopSignal(deployment));
  t.is(service.spec?.type, 'ClusterIP');
  t.deepEqual(service.spec?.ports, [{ name: 'api', protocol: 'TCP', port: 8080, targetPort: 8080 }]);
  t.deepEqual(service.spec?.selector, labels);
});

test('objects: before Kubernetes 1.33 a preStop hook sends SIGINT to PID 1 and waits; resources, pull secrets, service account, PVC', (t) => {
  const { deployment } = render({
    stopSignal: 'pre-stop',
    graceMs: 2_500,
    options: resolveKubernetesOptions(
      { memoryMb: 256, cpus: 0.25, imagePullSecrets: ['creds'], serviceAccountName: 'drasi', storage: { size: '2Gi', storageClassName: 'fast' } },
      { namespace: 'draas', image: 'example/drasi:1' },
    ),
  });
  const podSpec = deployment.spec!.template.spec!;
  const container = podSpec.containers[0]!;
  t.is(container.lifecycle?.stopSignal, undefined);
  t.regex(container.lifecycle?.preStop?.exec?.command?.join(' ') ?? '', /kill -INT 1/);
  t.is(podSpec.os, undefined);
  t.false(keepsStopSignal(deployment));
  t.is(podSpec.terminationGracePeriodSeconds, 3);
  t.deepEqual(container.resources, { requests: { memory: '256Mi', cpu: '250m' }, limits: { memory: '256Mi', cpu: '250m' } });
  t.deepEqual(podSpec.imagePullSecrets, [{ name: 'creds' }]);
  t.is(podSpec.serviceAccountName, 'drasi');
  t.is(podSpec.automountServiceAccountToken, undefined, 'the named account mounts its token as it is configured');
  t.deepEqual(podSpec.volumes?.[1], { name: 'data', persistentVolumeClaim: { claimName: 'draas-analytics-data' } });
});

test('stop signal: the container field from Kubernetes 1.33 on, whatever the minor suffix', (t) => {
  t.true(supportsStopSignal({ major: '1', minor: '33' }));
  t.true(supportsStopSignal({ major: '1', minor: '34+' }));
  t.true(supportsStopSignal({ major: '2', minor: '0' }));
  t.false(supportsStopSignal({ major: '1', minor: '32' }));
  t.false(supportsStopSignal({ major: '1', minor: '29+' }));
  t.false(supportsStopSignal({ major: '', minor: '' }));
});

test('object facts: objects that are not ours or lack the annotations say nothing', (t) => {
  t.is(objectFacts(undefined), undefined);
  t.is(objectFacts({ labels: { 'app.kubernetes.io/managed-by': 'helm', 'io.draas/instance-id': 'x' }, annotations: { 'io.draas/generation': '1', 'io.draas/port': '80' } }), undefined);
  t.is(objectFacts({ labels, annotations: { 'io.draas/generation': 'one', 'io.draas/port': '80' } }), undefined);
  t.is(objectFacts({ labels, annotations: { 'io.draas/generation': '1' } }), undefined);
});

// ---------------------------------------------------------------- status

function deployment(status: V1Deployment['status'], generation = 2, start = 'S'): V1Deployment {
  return { metadata: { name: 'draas-analytics', generation, labels, annotations: { 'io.draas/start-id': start } }, spec: { selector: {}, template: {} }, status };
}

function pod(name: string, status: V1Pod['status'], options: { start?: string; deleting?: boolean; created?: string } = {}): V1Pod {
  return {
    metadata: {
      name,
      labels,
      annotations: { 'io.draas/generation': '3', 'io.draas/start-id': options.start ?? 'S' },
      creationTimestamp: new Date(options.created ?? '2026-01-01T00:00:00Z'),
      ...(options.deleting ? { deletionTimestamp: new Date('2026-01-01T00:01:00Z') } : {}),
    },
    status,
  };
}

const readyCondition = [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'True' }];
const running = { containerStatuses: [{ name: 'drasi-server', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } }] };

test('start: ready needs the observed generation, a ready replica and a ready pod of the current template', (t) => {
  const readyPod = pod('p1', { phase: 'Running', conditions: readyCondition, ...running });
  t.deepEqual(assessStart(deployment({ observedGeneration: 2, readyReplicas: 1 }), [readyPod], 'S'), { state: 'ready', pod: 'p1' });
  t.is(assessStart(deployment({ observedGeneration: 1, readyReplicas: 1 }), [readyPod], 'S').state, 'starting');
  t.is(assessStart(deployment({ observedGeneration: 2, readyReplicas: 0 }), [readyPod], 'S').state, 'starting');
  // An earlier start's pod (even of the same generation), or a pod being deleted, is not this start's.
  t.is(assessStart(deployment({ observedGeneration: 2, readyReplicas: 1 }), [pod('old', { phase: 'Running', conditions: readyCondition }, { start: 'earlier' })], 'S').state, 'starting');
  t.is(assessStart(deployment({ observedGeneration: 2, readyReplicas: 1 }), [pod('p1', { phase: 'Running', conditions: readyCondition }, { deleting: true })], 'S').state, 'starting');
  t.deepEqual(assessStart(undefined, [], 'S'), { state: 'starting', waiting: 'the Deployment is not visible yet' });
});

test('start: crash loops, terminated containers, OOM kills, image pulls and config errors fail with the reason and exit code', (t) => {
  const waiting = (reason: string, message?: string, lastExit?: number, lastReason?: string) =>
    pod('p1', {
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'drasi-server', image: 'x', imageID: '', ready: false, restartCount: lastExit === undefined ? 0 : 2,
          state: { waiting: { reason, ...(message ? { message } : {}) } },
          ...(lastExit !== undefined ? { lastState: { terminated: { exitCode: lastExit, ...(lastReason ? { reason: lastReason } : {}) } } } : {}),
        },
      ],
    });
  const assess = (p: V1Pod) => assessStart(deployment({ observedGeneration: 2 }), [p], 'S');
  const crash = assess(waiting('CrashLoopBackOff', 'back-off 10s', 1, 'Error'));
  t.like(crash, { state: 'failed', failure: { reason: 'CrashLoopBackOff', exitCode: 1, restarted: true } });
  t.like(assess(waiting('CrashLoopBackOff', undefined, 137, 'OOMKilled')), { state: 'failed', failure: { reason: 'CrashLoopBackOff', exitCode: 137, signal: 'SIGKILL', oomKilled: true } });
  t.like(assess(waiting('ErrImagePull', 'not found')), { state: 'failed', failure: { reason: 'ErrImagePull', exitCode: null, message: 'not found' } });
  t.like(assess(waiting('ImagePullBackOff')), { state: 'failed', failure: { reason: 'ImagePullBackOff' } });
  t.like(assess(waiting('CreateContainerConfigError', 'configmap "x" not found')), { state: 'failed', failure: { reason: 'CreateContainerConfigError' } });
  // Still creating or pulling: keep waiting, and say what for.
  t.deepEqual(assess(waiting('ContainerCreating')), { state: 'starting', waiting: 'ContainerCreating' });
  const terminated = pod('p1', { phase: 'Running', containerStatuses: [{ name: 'drasi-server', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error' } } }] });
  const failed = assess(terminated);
  t.like(failed, { state: 'failed', failure: { reason: 'Error', exitCode: 1, restarted: false } });
  t.is(failed.state === 'failed' ? describeFailure(failed.failure) : '', 'Error (exit code 1)');
  const unschedulable = pod('p1', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes' }] });
  t.deepEqual(assess(unschedulable), { state: 'starting', waiting: 'Unschedulable: 0/1 nodes' });
  const quota = deployment({ observedGeneration: 2, conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'exceeded quota' }] });
  t.like(assessStart(quota, [], 'S'), { state: 'failed', failure: { reason: 'FailedCreate', message: 'exceeded quota' } });
  // The same conditions on the Deployment as an earlier start left it say nothing about this start.
  const stale = deployment({ observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }, 2, 'earlier');
  t.like(assessStart(stale, [], 'S'), { state: 'starting' });
});

test('running: a restart behind our back, an eviction or an OOM kill is a failure; otherwise readiness', (t) => {
  const restarted = pod('p1', { phase: 'Running', conditions: readyCondition, containerStatuses: [{ name: 'drasi-server', image: 'x', imageID: '', ready: true, restartCount: 1, state: { running: {} }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }] });
  t.like(assessRunning([restarted], 'S'), { failure: { reason: 'OOMKilled', exitCode: 137, oomKilled: true, restarted: true } });
  const evicted = pod('p1', { phase: 'Failed', reason: 'Evicted', message: 'low on memory' });
  t.like(assessRunning([evicted], 'S'), { failure: { reason: 'Evicted', exitCode: null } });
  t.deepEqual(assessRunning([pod('p1', { phase: 'Running', conditions: readyCondition, ...running })], 'S'), { ready: true, pod: 'p1' });
  t.deepEqual(assessRunning([pod('p1', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], ...running })], 'S'), { ready: false });
  // A stop's pod: terminated with 0 after SIGINT.
  const stopped = pod('p1', { phase: 'Succeeded', containerStatuses: [{ name: 'drasi-server', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] });
  t.deepEqual(observedExit(stopped), { exitCode: 0, signal: null, reason: 'Completed' });
});

// ---------------------------------------------------------------- kubeconfig

test('kubeconfig: explicit file, then KUBECONFIG, then the service account, then ~/.kube/config', (t) => {
  const all = { kubeconfigEnv: `/a${path.delimiter}/b`, inCluster: true, homeConfig: '/home/me/.kube/config' };
  t.deepEqual(kubeconfigSource({ file: '/explicit' }, all), { kind: 'file', path: '/explicit' });
  t.deepEqual(kubeconfigSource({}, all), { kind: 'env', paths: ['/a', '/b'] });
  t.deepEqual(kubeconfigSource({}, { ...all, kubeconfigEnv: '' }), { kind: 'in-cluster' });
  t.deepEqual(kubeconfigSource({}, { ...all, kubeconfigEnv: undefined, inCluster: false }), { kind: 'home', path: '/home/me/.kube/config' });
  t.throws(() => kubeconfigSource({}, { inCluster: false }), { instanceOf: KubeconfigError });
});

test('kubeconfig: a context is applied; an unknown context names the ones there are, never a credential', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'draas-kubeconfig-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: one',
      '  cluster: {server: "http://127.0.0.1:1"}',
      '- name: two',
      '  cluster: {server: "http://127.0.0.1:2"}',
      'users:',
      '- name: me',
      '  user: {token: "very-secret-token"}',
      'contexts:',
      '- name: first',
      '  context: {cluster: one, user: me}',
      '- name: second',
      '  context: {cluster: two, user: me, namespace: ns2}',
      'current-context: first',
    ].join('\n'),
  );
  t.is(loadKubeconfig({ file }, { inCluster: false }).server, 'http://127.0.0.1:1');
  const second = loadKubeconfig({ file, context: 'second' }, { inCluster: false });
  t.is(second.server, 'http://127.0.0.1:2');
  t.false(second.description.includes('very-secret-token'));
  const error = t.throws(() => loadKubeconfig({ file, context: 'third' }, { inCluster: false }), { instanceOf: KubeconfigError });
  t.regex(error.message, /no context "third" \(it has: first, second\)/);
  t.false(error.message.includes('very-secret-token'));
  t.throws(() => loadKubeconfig({ file: path.join(dir, 'missing') }, { inCluster: false }), { instanceOf: KubeconfigError, message: /cannot load kubeconfig/ });
});

test('start: a FailedMount event for a missing ConfigMap fails it; transient mount trouble and other pods do not', (t) => {
  const missing = { type: 'Warning', reason: 'FailedMount', message: 'MountVolume.SetUp failed for volume "config" : configmap "draas-analytics-config" not found', involvedObject: { name: 'p1', uid: 'u1' } };
  t.like(mountFailure([missing], { name: 'p1', uid: 'u1' }), { reason: 'FailedMount', message: missing.message });
  t.is(mountFailure([missing], { name: 'p2', uid: 'u2' }), undefined);
  t.is(mountFailure([{ ...missing, involvedObject: { name: 'p1', uid: 'older' } }], { name: 'p1', uid: 'u1' }), undefined);
  t.is(mountFailure([{ ...missing, message: 'timed out waiting for the condition' }], { name: 'p1', uid: 'u1' }), undefined);
  t.is(mountFailure([{ ...missing, type: 'Normal', reason: 'Pulled' }], { name: 'p1', uid: 'u1' }), undefined);
});
