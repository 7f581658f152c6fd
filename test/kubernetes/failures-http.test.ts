/**
 * What a user sees through the REST API when Kubernetes refuses to run a
 * server: a pod crash, an image that cannot be pulled, a ConfigMap that
 * cannot be mounted — each ends `Failed` with the Kubernetes reason in
 * `failure` (an embedded control plane with a Kubernetes worker on the API
 * server double).
 */
import test, { type ExecutionContext } from 'ava';
import { embedded } from '../helpers/embedded.js';
import { api } from '../helpers/http-api.js';
import type { KubeApiDoubleHandle } from '../helpers/kube-api.js';
import { startKubeApi } from './_kube.js';
import { clusterReader } from './_walkthrough.js';

async function kubernetesApi(t: ExecutionContext, startTimeoutMs = 20_000): Promise<{ call: ReturnType<typeof api>; kube: KubeApiDoubleHandle }> {
  const kube = await startKubeApi(t);
  const { draas } = await embedded(t, {
    platforms: ['kubernetes'],
    kubernetes: { kubeconfig: kube.kubeconfigPath, namespace: kube.namespace },
    startTimeoutMs,
    stopGraceMs: 3_000,
    // Failed stays Failed while the test looks.
    restartPolicy: { initialBackoffMs: 600_000, maxBackoffMs: 600_000 },
  });
  const { url } = await draas.listen({ port: 0 });
  return { call: api(url), kube };
}

interface Failure {
  reason?: string;
  exitCode?: number | null;
  lastLogLines?: string[];
}

async function failureOf(call: ReturnType<typeof api>, name: string, ms = 30_000): Promise<{ status?: string; failure?: Failure }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const instance = (await call('GET', `/api/server/instances/${name}`)).body as { status?: string; failure?: Failure };
    if (instance.status === 'Failed' || Date.now() > deadline) return instance;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('a running server that crashes: Failed with the exit code, the reason and its last log lines; the Deployment is scaled to 0', async (t) => {
  const { call, kube } = await kubernetesApi(t);
  await call('POST', '/api/server/instances', {
    name: 'crashes',
    platformType: 'kubernetes',
    environment: { DRASI_DOUBLE_EXIT_AFTER_MS: '1500', DRASI_DOUBLE_EXIT_CODE: '3' },
  });
  t.like((await call('POST', '/api/server/instances/crashes/start')).body, { status: 'Running' });
  const instance = await failureOf(call, 'crashes');
  t.is(instance.status, 'Failed');
  t.is(instance.failure?.exitCode, 3);
  t.regex(instance.failure?.reason ?? '', /^workload exited unexpectedly with code 3: (Error|CrashLoopBackOff)/);
  t.true((instance.failure?.lastLogLines ?? []).length > 0, 'the container printed something');
  const cluster = clusterReader(kube);
  const deployment = await cluster.apps.readNamespacedDeployment({ name: 'draas-crashes', namespace: kube.namespace });
  t.is(deployment.spec?.replicas, 0, 'the kubelet does not restart it behind the control plane');
});

test('an image that cannot be pulled: the start answers 502 and the instance is Failed with ErrImagePull / ImagePullBackOff', async (t) => {
  const { call } = await kubernetesApi(t);
  await call('POST', '/api/server/instances', { name: 'nopull', platformType: 'kubernetes', platformOptions: { image: 'registry.example/nothing/here:1' } });
  const start = await call('POST', '/api/server/instances/nopull/start');
  t.is(start.status, 502, JSON.stringify(start.body));
  t.regex(String(start.body['detail']), /ErrImagePull|ImagePullBackOff/);
  const instance = await failureOf(call, 'nopull');
  t.is(instance.status, 'Failed');
  t.regex(JSON.stringify(instance.failure), /ErrImagePull|ImagePullBackOff/);
});

test('a ConfigMap that cannot be mounted: the start fails with the mount failure, not after the timeout', async (t) => {
  const { call, kube } = await kubernetesApi(t, 60_000);
  const cluster = clusterReader(kube);
  // Hold the pod unschedulable (more CPUs than the node has) while its ConfigMap is deleted behind DRaaS's back.
  kube.knobs.setNodeCapacity({ cpu: 1, memory: 32 * 1024 ** 3 });
  await call('POST', '/api/server/instances', { name: 'nomap', platformType: 'kubernetes', platformOptions: { cpus: 2 } });
  const began = Date.now();
  const start = call('POST', '/api/server/instances/nomap/start');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const maps = await cluster.core.listNamespacedConfigMap({ namespace: kube.namespace, labelSelector: 'io.draas/instance-id=nomap' });
    if (maps.items.length > 0 && (await cluster.livePods('nomap')).length > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await cluster.core.deleteNamespacedConfigMap({ name: 'draas-nomap-config', namespace: kube.namespace });
  kube.knobs.setNodeCapacity({ cpu: 8, memory: 32 * 1024 ** 3 });
  const answer = await start;
  t.is(answer.status, 502, JSON.stringify(answer.body));
  t.regex(String(answer.body['detail']), /FailedMount|configmap .*not found|ConfigMap/i);
  t.true(Date.now() - began < 55_000, 'before the start timeout');
  const instance = await failureOf(call, 'nomap');
  t.is(instance.status, 'Failed');
  t.regex(JSON.stringify(instance.failure), /FailedMount|not found/i);
});
