import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { defaultWorkerId, findKubeconfig } from '../../src/platform-workers.js';

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'draas-kubeconfig-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('findKubeconfig: the given file, or a KUBECONFIG-style list with one existing file, wins; a missing one says so', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'config');
  writeFileSync(file, 'apiVersion: v1\nkind: Config\n');
  const nowhere = { inCluster: false };
  t.deepEqual(findKubeconfig({ kubeconfig: file }, nowhere), { present: true, source: `kubeconfig ${file}` });
  const list = `${path.join(dir, 'missing')}${path.delimiter}${file}`;
  t.deepEqual(findKubeconfig({ kubeconfig: list }, nowhere), { present: true, source: `KUBECONFIG ${list}` });
  t.deepEqual(findKubeconfig({ kubeconfig: path.join(dir, 'missing') }, nowhere), { present: false, reason: `no kubeconfig at ${path.join(dir, 'missing')}` });
  t.deepEqual(findKubeconfig({ kubeconfig: file }, { inCluster: true }), { present: true, source: `kubeconfig ${file}` }, 'an explicit file wins over the service account');
});

test('findKubeconfig: without a file, KUBECONFIG, then the in-cluster service account, then ~/.kube/config; none at all says what to do', (t) => {
  const home = tempDir(t);
  const homeConfig = path.join(home, '.kube', 'config');
  const none = findKubeconfig({}, { inCluster: false });
  t.false(none.present);
  if (!none.present) t.regex(none.reason, /no kubeconfig: pass --kubeconfig, set KUBECONFIG, run in a cluster/);
  t.deepEqual(findKubeconfig({}, { inCluster: true, homeConfig }), { present: true, source: 'the in-cluster service account' });
  mkdirSync(path.join(home, '.kube'));
  writeFileSync(homeConfig, 'apiVersion: v1\nkind: Config\n');
  t.deepEqual(findKubeconfig({}, { inCluster: false, homeConfig }), { present: true, source: `kubeconfig ${homeConfig}` });
  t.deepEqual(findKubeconfig({}, { inCluster: false, homeConfig, kubeconfigEnv: homeConfig }), { present: true, source: `KUBECONFIG ${homeConfig}` });
});

test('defaultWorkerId: a Kubernetes worker id names its namespace and does not change with the host (pods get new names)', (t) => {
  const id = defaultWorkerId({ platform: 'kubernetes', dataDir: '.draas', kubernetes: { namespace: 'pipelines' } });
  t.regex(id, /^kubernetes-pipelines-[0-9a-f]{8}$/);
  t.false(id.includes(os.hostname().toLowerCase()));
  t.is(defaultWorkerId({ platform: 'kubernetes', dataDir: '/elsewhere', kubernetes: { namespace: 'pipelines' } }), id, 'the data dir does not matter');
  t.not(defaultWorkerId({ platform: 'kubernetes', dataDir: '.draas', kubernetes: { namespace: 'pipelines', context: 'prod' } }), id, 'another context is another cluster');
  t.not(defaultWorkerId({ platform: 'kubernetes', dataDir: '.draas', kubernetes: { namespace: 'other' } }), id);
  t.regex(defaultWorkerId({ platform: 'kubernetes', dataDir: '.draas' }), /^kubernetes-draas-[0-9a-f]{8}$/);
});
