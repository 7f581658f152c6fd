/**
 * `draas up` with a Kubernetes worker against the API server double: the
 * seed's walkthrough with `"platformType": "kubernetes"`; a restart of draas
 * re-adopts the running instance (the same pod, not restarted); the platform
 * shows unavailable with the reason while the API server does not answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { draasUp, type DraasUp } from '../helpers/draas-up.js';
import { doubleExecutable } from '../helpers/embedded.js';
import { api } from '../helpers/http-api.js';
import type { KubeApiDoubleHandle } from '../helpers/kube-api.js';
import { startKubeApi } from './_kube.js';
import { clusterReader, kubernetesWalkthrough, type Call } from './_walkthrough.js';

/** `draas up --platforms process,kubernetes` on the double's kubeconfig; killed at the end of the test. */
async function up(t: ExecutionContext, kube: KubeApiDoubleHandle, dataDir: string): Promise<{ draas: DraasUp; call: Call }> {
  const draas = draasUp(
    [
      '--platforms', 'process,kubernetes',
      '--kubeconfig', kube.kubeconfigPath,
      '--kube-namespace', kube.namespace,
      '--data-dir', dataDir,
      '--drasi-server', doubleExecutable,
      '--start-timeout', '30000',
      '--stop-grace', '3000',
    ],
    { env: { ...process.env, KUBECONFIG: '' } as Record<string, string> },
  );
  t.teardown(async () => {
    draas.child.kill('SIGKILL');
    await draas.child.catch(() => undefined);
  });
  const call: Call = api(await draas.url);
  return { draas, call };
}

function dataDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'draas-kube-up-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('draas up: the walkthrough with platformType kubernetes — create, start, stop, restart, PATCH then restart, status, recent changes, delete', async (t) => {
  const kube = await startKubeApi(t);
  const { call, draas } = await up(t, kube, dataDir(t));
  t.regex(draas.output(), /platforms process, kubernetes/);
  const platforms = (await call('GET', '/api/platforms')).body as { platforms: { platform: string; available: boolean }[] };
  t.like(platforms.platforms.find((entry) => entry.platform === 'kubernetes'), { available: true });
  await kubernetesWalkthrough(t, call, kube, 'walk-up');
});

test('draas up restarted: the running Kubernetes instance is re-adopted — the same pod, not restarted, still Running', async (t) => {
  const kube = await startKubeApi(t);
  const dir = dataDir(t);
  const cluster = clusterReader(kube);
  const first = await up(t, kube, dir);
  await first.call('POST', '/api/server/instances', { name: 'steady', platformType: 'kubernetes' });
  const started = await first.call('POST', '/api/server/instances/steady/start');
  t.like(started.body, { status: 'Running' });
  const [pod] = await cluster.livePods('steady');
  const pid = kube.knobs.pid(kube.namespace, pod!.metadata!.name!);
  first.draas.child.kill('SIGINT');
  await first.draas.child.catch(() => undefined);

  const second = await up(t, kube, dir);
  const instance = await second.call('GET', '/api/server/instances/steady');
  t.like(instance.body, { status: 'Running' });
  const [after, ...more] = await cluster.livePods('steady');
  t.deepEqual(more, []);
  t.is(after!.metadata?.uid, pod!.metadata?.uid, 'the same pod');
  t.is(after!.status?.containerStatuses?.[0]?.restartCount, 0, 'its container did not restart');
  t.is(kube.knobs.pid(kube.namespace, after!.metadata!.name!), pid, 'the same server process');
  // Still managed: a stop reaches it.
  t.like((await second.call('POST', '/api/server/instances/steady/stop')).body, { status: 'Stopped' });
  t.deepEqual(await cluster.livePods('steady'), []);
});

test('draas up: while the API server does not answer, GET /api/platforms shows kubernetes unavailable with the reason; a start is refused with 503', async (t) => {
  const kube = await startKubeApi(t);
  const { call } = await up(t, kube, dataDir(t));
  await call('POST', '/api/server/instances', { name: 'waits', platformType: 'kubernetes' });
  await kube.knobs.setAvailability('refusing');
  let kubernetes: { available: boolean; reason?: string } | undefined;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const platforms = (await call('GET', '/api/platforms')).body as { platforms: { platform: string; available: boolean; reason?: string }[] };
    kubernetes = platforms.platforms.find((entry) => entry.platform === 'kubernetes');
    if (kubernetes && !kubernetes.available) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.false(kubernetes?.available, 'unavailable');
  t.regex(kubernetes?.reason ?? '', /Kubernetes API at http:\/\/127\.0\.0\.1:\d+(:| is) unreachable/);
  const start = await call('POST', '/api/server/instances/waits/start');
  t.is(start.status, 503, JSON.stringify(start.body));
  await kube.knobs.setAvailability('serving');
  const back = Date.now() + 20_000;
  while (Date.now() < back) {
    const platforms = (await call('GET', '/api/platforms')).body as { platforms: { platform: string; available: boolean }[] };
    if (platforms.platforms.find((entry) => entry.platform === 'kubernetes')?.available) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.like((await call('POST', '/api/server/instances/waits/start')).body, { status: 'Running' });
});
