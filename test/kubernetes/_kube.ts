/**
 * What the Kubernetes driver tests share: an API server double with short
 * backoffs, a driver on its kubeconfig, specs, and reads of the double's
 * objects through client-node (never through the driver under test).
 */
import type { ExecutionContext } from 'ava';
import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkloadEvent, WorkloadSpec } from '../../src/platforms/driver.js';
import { loadKubeconfig } from '../../src/platforms/kubernetes-config.js';
import { KubernetesDriver, type KubernetesDriverOptions } from '../../src/platforms/kubernetes.js';
import { startKubeApiDouble, type KubeApiDoubleHandle, type KubeApiDoubleOptions } from '../helpers/kube-api.js';

export const image = 'registry:5000/drasi/drasi-server:0.2.0';

export interface Cluster {
  kube: KubeApiDoubleHandle;
  apps: AppsV1Api;
  core: CoreV1Api;
  dir: string;
  /** A driver on the double (closed at the end of the test). */
  driver(options?: Partial<KubernetesDriverOptions>): KubernetesDriver;
}

/** A double whose kubelet retries within a second (a real one backs off 10 s to 5 min): crash loops, pulls and mounts fail fast. */
export const quickBackoffs = {
  crashLoopBackoffBaseMs: 200,
  crashLoopBackoffCapMs: 1_000,
  imagePullBackoffBaseMs: 200,
  imagePullBackoffCapMs: 1_000,
  retryMs: 200,
} as const satisfies KubeApiDoubleOptions;

/** An API server double with `quickBackoffs`, closed at the end of the test. */
export async function startKubeApi(t: ExecutionContext, options: KubeApiDoubleOptions = {}): Promise<KubeApiDoubleHandle> {
  const kube = await startKubeApiDouble({ ...quickBackoffs, ...options });
  t.teardown(() => kube.close());
  return kube;
}

export async function startCluster(t: ExecutionContext, options: KubeApiDoubleOptions = {}): Promise<Cluster> {
  const kube = await startKubeApi(t, options);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'draas-kube-test-'));
  const drivers: KubernetesDriver[] = [];
  t.teardown(async () => {
    for (const driver of drivers) await driver.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const { config } = loadKubeconfig({ file: kube.kubeconfigPath }, { inCluster: false });
  return {
    kube,
    apps: config.makeApiClient(AppsV1Api),
    core: config.makeApiClient(CoreV1Api),
    dir,
    driver: (overrides = {}) => {
      const driver = new KubernetesDriver({
        kubeconfig: { file: kube.kubeconfigPath },
        namespace: kube.namespace,
        defaultImage: image,
        graceMs: 3_000,
        watchBackoffMs: () => 100,
        availabilityTimeoutMs: 15_000,
        ...overrides,
      });
      drivers.push(driver);
      return driver;
    },
  };
}

export function spec(instanceId: string, overrides: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return {
    instanceId,
    generation: 1,
    config: { id: instanceId, host: '127.0.0.1', logLevel: 'info', persistConfig: false },
    env: { DRASI_DOUBLE_LOG_INTERVAL_MS: '100' },
    startTimeoutMs: 20_000,
    ...overrides,
  };
}

export async function deployment(cluster: Cluster, instanceId: string): Promise<V1Deployment | undefined> {
  try {
    return await cluster.apps.readNamespacedDeployment({ name: `draas-${instanceId}`, namespace: cluster.kube.namespace });
  } catch {
    return undefined;
  }
}

/** The instance's pods not being deleted. */
export async function livePods(cluster: Cluster, instanceId: string): Promise<V1Pod[]> {
  const list = await cluster.core.listNamespacedPod({ namespace: cluster.kube.namespace, labelSelector: `io.draas/instance-id=${instanceId}` });
  return list.items.filter((pod) => !pod.metadata?.deletionTimestamp);
}

/** Polls `check` (for assertions on the double's state only) until it holds or `ms` pass. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Collects the driver's events; `next` waits for one that matches. */
export function collect(driver: KubernetesDriver) {
  const events: WorkloadEvent[] = [];
  const waiters: { match: (event: WorkloadEvent) => boolean; resolve: (event: WorkloadEvent) => void }[] = [];
  driver.watch((event) => {
    events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.match(event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  return {
    events,
    next(match: (event: WorkloadEvent) => boolean, ms = 20_000): Promise<WorkloadEvent | undefined> {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => {
        const waiter = { match, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const index = waiters.indexOf(waiter);
          if (index !== -1) waiters.splice(index, 1);
          resolve(undefined);
        }, ms).unref();
      });
    },
  };
}
