/**
 * Reconciliation on the Kubernetes platform: an embedded control plane with a
 * Kubernetes worker on the API server double. The worker reaches each
 * server's component API through the API server (`pods/{name}:{port}/proxy`),
 * as it would on a cluster whose pod network it is not on.
 */
import test from 'ava';
import { embedded } from '../helpers/embedded.js';
import { startKubeApi } from '../kubernetes/_kube.js';
import { clusterReader } from '../kubernetes/_walkthrough.js';
import { httpCall, registerScenarios } from './_scenario.js';

const reconcileIntervalMs = 500;

registerScenarios(test.serial, 'kubernetes', {
  reconcileIntervalMs,
  name: (prefix) => `k8s-${prefix}`,
  world: async (t) => {
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
  },
  afterChanges: (t, { kube }) => {
    const proxied = kube.requests().filter((request) => request.resource === 'pods/proxy');
    t.true(proxied.length > 0 && proxied.every((request) => request.allowed), 'the component API was reached through pods/proxy');
  },
});
