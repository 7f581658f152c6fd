/**
 * Reconciliation on the Kubernetes platform: an embedded control plane with a
 * Kubernetes worker on the API server double. The worker reaches each
 * server's component API through the API server (`pods/{name}:{port}/proxy`),
 * as it would on a cluster whose pod network it is not on.
 */
import test, { type ExecutionContext } from 'ava';
import { embedded } from '../helpers/embedded.js';
import type { KubeApiDoubleHandle } from '../helpers/kube-api.js';
import { startKubeApi } from '../kubernetes/_kube.js';
import { clusterReader } from '../kubernetes/_walkthrough.js';
import { configurationChanges, crashRecovered, driftRepaired, failedCallRestarts, httpCall, type ScenarioWorld } from './_scenario.js';

const reconcileIntervalMs = 500;

async function world(t: ExecutionContext): Promise<ScenarioWorld & { kube: KubeApiDoubleHandle }> {
  const kube = await startKubeApi(t);
  const cluster = clusterReader(kube);
  const { draas } = await embedded(t, {
    platforms: ['kubernetes'],
    kubernetes: { kubeconfig: kube.kubeconfigPath, namespace: kube.namespace },
    startTimeoutMs: 20_000,
    stopGraceMs: 3_000,
    reconcileIntervalMs,
    restartPolicy: { initialBackoffMs: 300, maxBackoffMs: 2_000 },
  });
  const { url } = await draas.listen({ port: 0 });
  const podOf = async (name: string): Promise<string> => {
    const [pod, ...more] = await cluster.livePods(name);
    if (!pod?.metadata?.name || more.length > 0) throw new Error(`${name}: ${more.length + (pod ? 1 : 0)} live pods`);
    return pod.metadata.name;
  };
  return {
    kube,
    call: httpCall(url),
    createFields: { platformType: 'kubernetes' },
    kill: async (_workloadId, name) => {
      if (!kube.knobs.oomKill(kube.namespace, await podOf(name))) throw new Error(`${name}: nothing to kill`);
    },
    // The test reaches the pod where the double runs it (pods share this host's network).
    serverUrl: async (name) => `http://127.0.0.1:${kube.knobs.hostPort(kube.namespace, await podOf(name))}`,
  };
}

test.serial('kubernetes: config changes reach the running pod without a restart where they can, with a new pod where they must', async (t) => {
  const scenario = await world(t);
  await configurationChanges(t, scenario, 'k8s-changes');
  const proxied = scenario.kube.requests().filter((request) => request.resource === 'pods/proxy');
  t.true(proxied.length > 0 && proxied.every((request) => request.allowed), 'the component API was reached through pods/proxy');
});

test.serial('kubernetes: a query and reaction deleted in the pod are put back within a reconcile interval', async (t) => {
  await driftRepaired(t, await world(t), 'k8s-drift', reconcileIntervalMs);
});

test.serial('kubernetes: a component call the server refuses makes the change a new pod', async (t) => {
  await failedCallRestarts(t, await world(t), 'k8s-refused');
});

test.serial('kubernetes: an OOM-killed pod is Failed, backs off and runs again', async (t) => {
  await crashRecovered(t, await world(t), 'k8s-crash');
});
