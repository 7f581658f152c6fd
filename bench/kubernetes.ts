/**
 * The Kubernetes platform against the API server double (whose kubelet runs
 * each pod as a real process of the Drasi Server double): N instances
 * created, started, stopped and deleted through the REST API of an embedded
 * control plane with a Kubernetes worker, `lanes` at a time. Baseline: the
 * same API calls made directly with client-node — the same objects created,
 * the Deployment watched until its pod is Ready, scaled to 0 until the pod
 * is gone, every object deleted until gone — on the same double. The ratio
 * is what DRaaS adds (its actors, worker, informers, HTTP) to what the
 * cluster itself takes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AppsV1Api, CoreV1Api, type V1Deployment } from '@kubernetes/client-node';
import { createControlPlane } from '../src/embedded.js';
import { loadKubeconfig } from '../src/platforms/kubernetes-config.js';
import { containerPort, renderInstanceObjects } from '../src/platforms/kubernetes-objects.js';
import { api, type ApiCall } from '../test/helpers/http-api.js';
import { startKubeApiDouble, type KubeApiDoubleHandle } from '../test/helpers/kube-api.js';
import { row, type Row } from './lib/results.js';
import { measure, type LatencySummary } from './lib/stats.js';

const lanes = 5;
/** Probe periods and grace periods of pod specs run at this fraction of their seconds (the same for both sides). */
const timeScale = 0.2;

/** One REST call that must succeed. */
async function succeed(call: ApiCall, method: string, route: string, body?: unknown): Promise<void> {
  const answer = await call(method, route, body);
  if (answer.status >= 300) throw new Error(`${method} ${route}: ${answer.status} ${JSON.stringify(answer.body)}`);
}

async function throughDraas(kube: KubeApiDoubleHandle, dir: string, count: number): Promise<LatencySummary> {
  const draas = await createControlPlane({
    dataDir: path.join(dir, 'draas'),
    platforms: ['kubernetes'],
    kubernetes: { kubeconfig: kube.kubeconfigPath, namespace: kube.namespace },
    startTimeoutMs: 60_000,
    stopGraceMs: 2_000,
    log: () => undefined,
  });
  try {
    const call = api((await draas.listen({ port: 0 })).url);
    return await measure(count, lanes, async (index) => {
      const name = `bench-draas-${index}`;
      await succeed(call, 'POST', '/api/server/instances', { name, platformType: 'kubernetes' });
      await succeed(call, 'POST', `/api/server/instances/${name}/start`);
      await succeed(call, 'POST', `/api/server/instances/${name}/stop`);
      await succeed(call, 'DELETE', `/api/server/instances/${name}`);
    });
  } finally {
    await draas.close();
  }
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`baseline: ${what} did not happen within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const notFound = (error: unknown) => typeof error === 'object' && error !== null && 'code' in error && error.code === 404;

async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (error) {
    if (notFound(error)) return true;
    throw error;
  }
}

/** The same objects and the same waits, straight through client-node. */
async function direct(kube: KubeApiDoubleHandle, count: number): Promise<LatencySummary> {
  const { config } = loadKubeconfig({ file: kube.kubeconfigPath }, { inCluster: false });
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const namespace = kube.namespace;
  return measure(count, lanes, async (index) => {
    const name = `bench-direct-${index}`;
    const spec = { instanceId: name, generation: 1, config: { id: name, host: '0.0.0.0', logLevel: 'info', persistConfig: false }, env: {}, startTimeoutMs: 60_000 };
    const objects = renderInstanceObjects({
      spec,
      options: { namespace, image: 'ghcr.io/drasi-project/drasi-server:0.2.0' },
      port: containerPort(spec),
      graceMs: 2_000,
      stopSignal: 'stop-signal',
      startId: `1-${String(index).padStart(8, '0')}`,
    });
    await core.createNamespacedConfigMap({ namespace, body: objects.configMap });
    await core.createNamespacedService({ namespace, body: objects.service });
    const created = await apps.createNamespacedDeployment({ namespace, body: objects.deployment });
    const ready = (deployment: V1Deployment) =>
      (deployment.status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 1) && (deployment.status?.readyReplicas ?? 0) >= 1;
    await until(async () => ready(await apps.readNamespacedDeployment({ name: created.metadata!.name!, namespace })), 'a Ready pod');
    const current = await apps.readNamespacedDeployment({ name: created.metadata!.name!, namespace });
    current.spec!.replicas = 0;
    await apps.replaceNamespacedDeployment({ name: created.metadata!.name!, namespace, body: current });
    const selector = `io.draas/instance-id=${name}`;
    await until(async () => (await core.listNamespacedPod({ namespace, labelSelector: selector })).items.length === 0, 'the pod gone');
    await apps.deleteNamespacedDeployment({ name: created.metadata!.name!, namespace, propagationPolicy: 'Foreground' });
    await core.deleteNamespacedService({ name: objects.service.metadata!.name!, namespace });
    await core.deleteNamespacedConfigMap({ name: objects.configMap.metadata!.name!, namespace });
    await until(() => gone(() => apps.readNamespacedDeployment({ name: created.metadata!.name!, namespace })), 'the Deployment gone');
  });
}

export async function benchKubernetes(options: { quick: boolean; large?: boolean }): Promise<Row[]> {
  const count = options.large ? 100 : options.quick ? 5 : 20;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-bench-kube-'));
  const kube = await startKubeApiDouble({ timeScale });
  try {
    const baseline = await direct(kube, count);
    const viaDraas = await throughDraas(kube, dir, count);
    const ops = (summary: LatencySummary) => summary.perSecond * 4;
    return [
      row(`lifecycle ops/s (${count} instances, ${lanes} at a time)`, ops(viaDraas), 'ops/s', { baseline: ops(baseline) }),
      row('one lifecycle p50 (create, start until Ready, stop until gone, delete)', viaDraas.p50Ms, 'ms', { baseline: baseline.p50Ms, ratioTarget: '<= 1.2' }),
      row('one lifecycle p99', viaDraas.p99Ms, 'ms', { baseline: baseline.p99Ms }),
    ];
  } finally {
    await kube.close();
    await rm(dir, { recursive: true, force: true });
  }
}
