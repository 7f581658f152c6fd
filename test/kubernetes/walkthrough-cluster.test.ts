/**
 * Cluster mode with a Kubernetes worker: `draas control-plane` and `draas
 * worker --platform kubernetes` as separate processes on a private Redis,
 * the worker on the API server double's kubeconfig. The seed's walkthrough;
 * a killed worker's successor re-adopts the running instance (same pod, no
 * restart) and, with every watch closed and the history compacted, still
 * sees the crash that follows.
 */
import test from 'ava';
import { testWithRedis } from '../helpers/engines.js';
import { startKubeApi } from './_kube.js';
import { eventually, outputs, redisServer, startControlPlane, startKubernetesWorker, waitForWorker, type Call as HarnessCall } from '../cluster/_harness.js';
import { clusterReader, kubernetesWalkthrough, type Call } from './_walkthrough.js';

const { available } = testWithRedis('kubernetes cluster mode');
const serial = available ? test.serial : undefined;

/** The harness's client, with JSON Patch bodies sent as such. */
function asCall(call: HarnessCall): Call {
  return async (method, route, body) => {
    const answer = await call(method, route, body, 60_000);
    return { status: answer.status, body: answer.body };
  };
}

serial?.('cluster mode: the walkthrough with platformType kubernetes through draas control-plane and draas worker --platform kubernetes', async (t) => {
  const kube = await startKubeApi(t);
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: 30_000, replyTimeoutMs: 20_000, stopGraceMs: 3_000 });
  const worker = await startKubernetesWorker(t, redis.url, { kubeconfig: kube.kubeconfigPath, namespace: kube.namespace });
  t.regex(worker.workerId, /^kubernetes-draas-[0-9a-f]{8}$/, 'a stable id without the host name');
  await waitForWorker(controlPlane, worker, 30_000, 'kubernetes');
  await kubernetesWalkthrough(t, asCall(controlPlane.call), kube, 'walk-cluster');
});

serial?.('cluster mode: a killed Kubernetes worker is replaced; the new one re-adopts the instance (same pod) and, after closed and expired watches, reports its crash', async (t) => {
  const kube = await startKubeApi(t);
  const cluster = clusterReader(kube);
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: 30_000, replyTimeoutMs: 20_000, stopGraceMs: 3_000 });
  const call = asCall(controlPlane.call);
  const first = await startKubernetesWorker(t, redis.url, { kubeconfig: kube.kubeconfigPath, namespace: kube.namespace });
  await waitForWorker(controlPlane, first, 30_000, 'kubernetes');
  await call('POST', '/api/server/instances', { name: 'kept', platformType: 'kubernetes' });
  t.like((await call('POST', '/api/server/instances/kept/start')).body, { status: 'Running' });
  const [pod] = await cluster.livePods('kept');

  first.process.kill('SIGKILL');
  t.true(await first.process.exited(10_000));
  const second = await startKubernetesWorker(t, redis.url, { kubeconfig: kube.kubeconfigPath, namespace: kube.namespace });
  t.is(second.workerId, first.workerId, 'the same worker id: the same queue');
  await waitForWorker(controlPlane, second, 30_000, 'kubernetes');
  const [after, ...more] = await cluster.livePods('kept');
  t.deepEqual(more, []);
  t.is(after!.metadata?.uid, pod!.metadata?.uid, 'the same pod');
  t.is(after!.status?.containerStatuses?.[0]?.restartCount, 0, 'not restarted');
  t.like((await call('GET', '/api/server/instances/kept')).body, { status: 'Running' });

  // Every watch ends and the history is compacted: the worker must re-list, and still see what happens next.
  kube.knobs.closeAllWatches();
  kube.knobs.compactHistory();
  t.true(kube.knobs.oomKill(kube.namespace, after!.metadata!.name!), 'the server is OOM-killed');
  await eventually(
    async () => ((await call('GET', '/api/server/instances/kept')).body as { status?: string }).status === 'Failed',
    30_000,
    'instance Failed after the OOM kill',
    [controlPlane.process, second.process],
  );
  const failed = (await call('GET', '/api/server/instances/kept')).body as { failure?: { reason?: string; exitCode?: number } };
  t.regex(failed.failure?.reason ?? '', /^workload exited unexpectedly with (code 137|signal SIGKILL): OOMKilled/, outputs(second.process));
  t.is(failed.failure?.exitCode, 137);
});
