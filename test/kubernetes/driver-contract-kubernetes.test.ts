/**
 * The driver contract (test/platforms/driver-contract.ts) against the
 * Kubernetes driver and the API server double (test/helpers/kube-api.ts):
 * one double per test, whose kubelet runs every pod as a local process of
 * the Drasi Server double.
 *
 * With DRAAS_TEST_KUBECONFIG set, the same contract runs against that real
 * cluster as well: in DRAAS_TEST_KUBE_NAMESPACE (default `draas-test`, which
 * must exist), with DRAAS_TEST_KUBE_IMAGE (required there: an image whose
 * entrypoint is the Drasi Server test double, node test/fixtures/drasi-server-double.mjs).
 * A workload is killed there by deleting its pod at once (no process to signal).
 */
import test from 'ava';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { WorkloadRef } from '../../src/platforms/driver.js';
import { loadKubeconfig } from '../../src/platforms/kubernetes-config.js';
import { KubernetesDriver } from '../../src/platforms/kubernetes.js';
import { startKubeApi } from './_kube.js';
import type { ExecutionContext } from 'ava';
import { drasiDoubleSpec, registerDriverContract, type DriverHarness } from '../platforms/driver-contract.js';

const startTimeoutMs = 30_000;

/** Where the contract runs: the double (default), or a real cluster. */
interface ClusterUnderTest {
  kubeconfigPath: string;
  namespace: string;
  image: string;
  /** Ends a pod's server as a crash would. */
  killPod(pod: string): Promise<void>;
}

async function apiDouble(t: ExecutionContext): Promise<ClusterUnderTest> {
  const kube = await startKubeApi(t);
  return {
    kubeconfigPath: kube.kubeconfigPath,
    namespace: kube.namespace,
    image: 'drasi-server:test',
    killPod: async (pod) => {
      const pid = kube.knobs.pid(kube.namespace, pod);
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    },
  };
}

function realCluster(kubeconfigPath: string): (t: ExecutionContext) => Promise<ClusterUnderTest> {
  const image = process.env.DRAAS_TEST_KUBE_IMAGE;
  if (!image) throw new Error('DRAAS_TEST_KUBECONFIG is set: DRAAS_TEST_KUBE_IMAGE must name an image of the Drasi Server test double');
  const namespace = process.env.DRAAS_TEST_KUBE_NAMESPACE ?? 'draas-test';
  return async () => {
    const { config } = loadKubeconfig({ file: kubeconfigPath }, { inCluster: false });
    const core = config.makeApiClient(CoreV1Api);
    return {
      kubeconfigPath,
      namespace,
      image,
      killPod: async (pod) => {
        await core.deleteNamespacedPod({ name: pod, namespace, gracePeriodSeconds: 0 });
      },
    };
  };
}

function kubernetesHarness(name: string, cluster: (t: ExecutionContext) => Promise<ClusterUnderTest>): DriverHarness {
  return {
    name,
    // One at a time: each test runs an API server double and its pods' processes; the contract's timings (a server that quits 3 s after it became healthy) must hold on a loaded machine.
    serial: true,
    capabilities: { recover: true, reap: true, availability: true },
    startTimeoutMs,
    platformOptions: {
      valid: { memoryMb: 256, cpus: 0.5, storage: { size: '1Gi' } },
      invalid: [{ image: 'Not An Image!' }, { privileged: true }, { memoryMb: 8 }, { namespace: 'Not_A_Namespace' }],
    },
    orphans: {
      fate: 'adopted',
      why: 'The cluster is the only record of a workload: recover adopts every Deployment labelled managed-by=draas whose pod runs; the control plane, which knows the instances, reports one without an instance record as an orphan and leaves it running.',
    },
    async open(t) {
      const kube = await cluster(t);
      const drivers: KubernetesDriver[] = [];
      t.teardown(async () => {
        for (const driver of drivers) await driver.close();
      });
      const { config } = loadKubeconfig({ file: kube.kubeconfigPath }, { inCluster: false });
      const apps = config.makeApiClient(AppsV1Api);
      const core = config.makeApiClient(CoreV1Api);
      const newDriver = (): KubernetesDriver => {
        const driver = new KubernetesDriver({ kubeconfig: { file: kube.kubeconfigPath }, namespace: kube.namespace, defaultImage: kube.image, graceMs: 2_000, watchBackoffMs: () => 100, availabilityTimeoutMs: 15_000 });
        drivers.push(driver);
        return driver;
      };
      const restarts = async (instanceId: string): Promise<number> => {
        const pods = await core.listNamespacedPod({ namespace: kube.namespace, labelSelector: `io.draas/instance-id=${instanceId}` });
        return pods.items.reduce((sum, pod) => sum + (pod.status?.containerStatuses?.[0]?.restartCount ?? 0), 0);
      };
      /** SIGKILL to the pod's container process, as an OOM kill or a crash would end it; resolves once the pod's status shows it. */
      const kill = async (ref: WorkloadRef): Promise<void> => {
        const before = await restarts(ref.instanceId);
        const pods = await core.listNamespacedPod({ namespace: kube.namespace, labelSelector: `io.draas/instance-id=${ref.instanceId}` });
        for (const pod of pods.items) await kube.killPod(pod.metadata?.name ?? '');
        const deadline = Date.now() + 15_000;
        while ((await restarts(ref.instanceId)) === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      };
      let counter = 0;
      return {
        driver: newDriver(),
        startedLine: /^\{"event":"started"/,
        instanceId: (prefix) => `${prefix}-${++counter}`,
        spec: (instanceId, behaviour = {}) => drasiDoubleSpec(instanceId, behaviour, { startTimeoutMs }),
        running: async (instanceId) => {
          const deployment = await apps.readNamespacedDeployment({ name: `draas-${instanceId}`, namespace: kube.namespace }).catch(() => undefined);
          const startId = deployment?.metadata?.annotations?.['io.draas/start-id'];
          if (!deployment || !startId || deployment.spec?.replicas === 0) return [];
          const pods = await core.listNamespacedPod({ namespace: kube.namespace, labelSelector: `io.draas/instance-id=${instanceId}` });
          const running = pods.items.filter(
            (pod) => pod.metadata?.annotations?.['io.draas/start-id'] === startId && pod.status?.containerStatuses?.some((status) => status.state?.running !== undefined),
          );
          return running.length > 0 ? [`${kube.namespace}/draas-${instanceId}/${startId}`] : [];
        },
        kill,
        // A closed driver no longer watches: the kubelet restarts the container, as it would after a worker died.
        killUnwatched: kill,
        restart: async () => newDriver(),
        makeOrphan: async (instanceId) => {
          // Started by a driver whose worker is gone: the cluster holds it, nothing else does.
          const other = newDriver();
          await other.start(drasiDoubleSpec(instanceId, {}, { startTimeoutMs }));
          await other.close();
        },
      };
    },
  };
}

registerDriverContract(test, kubernetesHarness('kubernetes', apiDouble));

const realKubeconfig = process.env.DRAAS_TEST_KUBECONFIG;
if (realKubeconfig) {
  registerDriverContract(test, kubernetesHarness('kubernetes (real cluster)', realCluster(realKubeconfig)));
} else {
  test('kubernetes driver contract on a real cluster: SKIPPED — set DRAAS_TEST_KUBECONFIG (and DRAAS_TEST_KUBE_IMAGE) to run it there too', (t) => {
    t.log('see docs/kubernetes.md, "Testing"');
    t.pass();
  });
}
