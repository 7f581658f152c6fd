/**
 * The seed's walkthrough with `"platformType": "kubernetes"` — create, start,
 * stop, restart, PATCH then restart, status, recent changes, delete — through
 * the REST API of a running `draas` (embedded or cluster mode), checked
 * against what the API server double holds: the objects, the pods (real
 * processes of the Drasi Server double), their config and generation.
 */
import type { ExecutionContext } from 'ava';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { loadKubeconfig } from '../../src/platforms/kubernetes-config.js';
import type { KubeApiDoubleHandle } from '../helpers/kube-api.js';

export interface ApiAnswer {
  status: number;
  body: unknown;
}
export type Call = (method: string, route: string, body?: unknown) => Promise<ApiAnswer>;

/** client-node on the double's kubeconfig: what the test reads the cluster with (never the driver under test). */
export function clusterReader(kube: KubeApiDoubleHandle) {
  const { config } = loadKubeconfig({ file: kube.kubeconfigPath }, { inCluster: false });
  const apps = config.makeApiClient(AppsV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const namespace = kube.namespace;
  const selector = (name: string) => `io.draas/instance-id=${name}`;
  return {
    apps,
    core,
    /** The instance's pods that are not being deleted. */
    async livePods(name: string): Promise<V1Pod[]> {
      const list = await core.listNamespacedPod({ namespace, labelSelector: selector(name) });
      return list.items.filter((pod) => !pod.metadata?.deletionTimestamp);
    },
    /** Names of every object of the instance, by kind (pods included while they terminate). */
    async objects(name: string): Promise<string[]> {
      const labelSelector = selector(name);
      const [deployments, replicaSets, pods, services, configMaps] = await Promise.all([
        apps.listNamespacedDeployment({ namespace, labelSelector }),
        apps.listNamespacedReplicaSet({ namespace, labelSelector }),
        core.listNamespacedPod({ namespace, labelSelector }),
        core.listNamespacedService({ namespace, labelSelector }),
        core.listNamespacedConfigMap({ namespace, labelSelector }),
      ]);
      return [
        ...deployments.items.map((item) => `deployment/${item.metadata?.name}`),
        ...replicaSets.items.map((item) => `replicaset/${item.metadata?.name}`),
        ...pods.items.map((item) => `pod/${item.metadata?.name}`),
        ...services.items.map((item) => `service/${item.metadata?.name}`),
        ...configMaps.items.map((item) => `configmap/${item.metadata?.name}`),
      ];
    },
    async serverYaml(name: string): Promise<string> {
      const configMap = await core.readNamespacedConfigMap({ name: `draas-${name}-config`, namespace });
      return configMap.data?.['server.yaml'] ?? '';
    },
  };
}

interface InstanceBody {
  status?: string;
  generation?: number;
  observedGeneration?: number;
  runtime?: { workloadId?: string; port?: number };
}

const body = (answer: ApiAnswer) => answer.body as InstanceBody & Record<string, unknown>;

/** Polls until `check` holds (for the double's own bookkeeping, e.g. a pod object removed after its process ended). */
async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

export async function kubernetesWalkthrough(t: ExecutionContext, call: Call, kube: KubeApiDoubleHandle, name: string): Promise<void> {
  const cluster = clusterReader(kube);

  const created = await call('POST', '/api/server/instances', {
    name,
    platformType: 'kubernetes',
    platformOptions: { memoryMb: 256, cpus: 0.5 },
    configuration: { sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }] },
  });
  t.is(created.status, 201, JSON.stringify(created.body));
  t.like(created.body, { platformType: 'kubernetes', platformOptions: { memoryMb: 256, cpus: 0.5 }, status: 'Pending' });
  t.deepEqual(await cluster.objects(name), [], 'nothing in the cluster before the start');

  const started = await call('POST', `/api/server/instances/${name}/start`);
  t.is(started.status, 200, JSON.stringify(started.body));
  t.is(body(started).status, 'Running');
  const [firstPod, ...others] = await cluster.livePods(name);
  t.truthy(firstPod, 'a pod runs');
  t.deepEqual(others, [], 'exactly one');
  t.true(firstPod!.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True'), 'it is Ready');
  t.like(firstPod!.spec?.containers[0]?.resources, { limits: { memory: '256Mi', cpu: '500m' }, requests: { memory: '256Mi', cpu: '500m' } });
  const hostPort = kube.knobs.hostPort(kube.namespace, firstPod!.metadata!.name!);
  t.truthy(hostPort);
  const health = await fetch(`http://127.0.0.1:${hostPort}/health`);
  t.is(health.status, 200, 'the server in the pod answers /health');
  t.regex(await cluster.serverYaml(name), /kind: mock/);

  const status = await call('GET', `/api/status/${name}/status`);
  t.like(status.body, { instanceId: name, status: 'Running', desiredState: 'Running', observedState: 'Running' });
  const logs = await call('GET', `/api/server/instances/${name}/logs?tail=50`);
  t.is(logs.status, 200);
  t.true((logs.body as { lines: string[] }).lines.some((line) => line.includes('"event":"started"')), 'logs come from the pod');

  const stopped = await call('POST', `/api/server/instances/${name}/stop`);
  t.is(body(stopped).status, 'Stopped', JSON.stringify(stopped.body));
  t.deepEqual(await cluster.livePods(name), [], 'the pod is gone');
  t.is((await cluster.apps.readNamespacedDeployment({ name: `draas-${name}`, namespace: kube.namespace })).spec?.replicas, 0, 'scaled to 0, kept');

  const restarted = await call('POST', `/api/server/instances/${name}/restart`);
  t.is(body(restarted).status, 'Running', JSON.stringify(restarted.body));
  const [secondPod] = await cluster.livePods(name);
  t.truthy(secondPod);
  t.not(secondPod!.metadata?.uid, firstPod!.metadata?.uid, 'a new pod');

  const patched = await call('PATCH', `/api/configuration/instances/${name}`, [
    {
      op: 'add',
      path: '/queries',
      value: [{ id: 'hot', queryLanguage: 'Cypher', query: 'MATCH (s:SensorReading) RETURN s', sources: [{ sourceId: 'sensors' }] }],
    },
  ]);
  t.is(patched.status, 200, JSON.stringify(patched.body));
  t.like(patched.body, { generation: 2 });
  const rolled = await call('POST', `/api/server/instances/${name}/restart`);
  t.like(rolled.body, { status: 'Running', generation: 2, observedGeneration: 2 });
  const [thirdPod, ...extra] = await cluster.livePods(name);
  t.deepEqual(extra, [], 'Recreate: never two pods');
  t.not(thirdPod!.metadata?.uid, secondPod!.metadata?.uid);
  t.is(thirdPod!.metadata?.annotations?.['io.draas/generation'], '2', 'the new pod runs generation 2');
  t.regex(await cluster.serverYaml(name), /id: hot/, 'with the patched config');

  const changes = await call('GET', `/api/status/recent-changes?instanceId=${name}&limit=100`);
  t.is(changes.status, 200);
  const transitions = (changes.body as { to: string }[]).map((change) => change.to);
  t.true(transitions.includes('Stopped') && transitions.filter((to) => to === 'Running').length >= 3, transitions.join(' → '));

  const deleted = await call('DELETE', `/api/server/instances/${name}`);
  t.is(deleted.status, 204, JSON.stringify(deleted.body));
  t.true(await until(async () => (await cluster.objects(name)).length === 0, 10_000), `left behind: ${(await cluster.objects(name)).join(', ')}`);
  t.is((await call('GET', `/api/server/instances/${name}`)).status, 404);
}
