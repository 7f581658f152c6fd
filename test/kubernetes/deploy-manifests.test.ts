/**
 * deploy/kubernetes/: the manifests that run DRaaS in a cluster. The
 * worker's Role holds the minimum the Kubernetes driver uses: the driver's
 * whole repertoire (start with a claim, logs, a crash, an unpullable image,
 * a ConfigMap that cannot be mounted, stop, a new generation, recovery,
 * reap, remove, availability) runs against the API server double with that
 * Role enforced; every request is recorded with its RBAC attributes. Nothing
 * the driver needs is denied (beyond two cluster-scope reads it falls back
 * from), and every verb the Role grants was used.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { applyComponentCalls, readObservedComponents } from '../../src/platforms/component-api.js';
import { WorkloadFailedError } from '../../src/errors.js';
import { toolAvailable } from '../helpers/engines.js';
import type { PolicyRule, RequestRecord } from '../helpers/kube-api.js';
import { collect, eventually, livePods, spec, startCluster } from './_kube.js';

const deployDir = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

type Manifest = { kind?: string; metadata?: { name?: string; namespace?: string }; [key: string]: unknown };

function manifests(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(path.join(deployDir, file), 'utf8')).map((document) => document.toJS() as Manifest);
}

function find(kind: string, name: string): Manifest {
  for (const file of readdirSync(deployDir).filter((entry) => entry.endsWith('.yaml') && entry !== 'kustomization.yaml')) {
    const found = manifests(file).find((manifest) => manifest.kind === kind && manifest.metadata?.name === name);
    if (found) return found;
  }
  throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
}

const workerRole = () => find('Role', 'draas-worker') as Manifest & { rules: PolicyRule[] };

/** A Role's grants as `verb group/resource` strings. */
function grants(rules: readonly PolicyRule[]): Set<string> {
  const granted = new Set<string>();
  for (const rule of rules) for (const verb of rule.verbs) for (const group of rule.apiGroups) for (const resource of rule.resources) granted.add(`${verb} ${group}/${resource}`);
  return granted;
}

const usage = (record: RequestRecord) => `${record.verb} ${record.apiGroup}/${record.resource}`;

test('the kustomization lists every manifest; the worker runs the Kubernetes platform as the Role-bound service account, one at a time', (t) => {
  const kustomization = manifests('kustomization.yaml')[0] as { resources: string[]; namespace: string };
  const files = readdirSync(deployDir).filter((entry) => entry.endsWith('.yaml') && entry !== 'kustomization.yaml');
  t.deepEqual([...kustomization.resources].sort(), files.sort());
  t.is(kustomization.namespace, 'draas');

  const worker = find('Deployment', 'draas-worker-kubernetes') as Manifest & {
    spec: { replicas: number; strategy: { type: string }; template: { spec: { serviceAccountName: string; containers: { args: string[]; env: { name: string }[] }[] } } };
  };
  t.is(worker.spec.replicas, 1);
  t.is(worker.spec.strategy.type, 'Recreate', 'never two workers consuming one queue');
  t.is(worker.spec.template.spec.serviceAccountName, 'draas-worker');
  t.deepEqual(worker.spec.template.spec.containers[0]!.args, ['worker', '--platform=kubernetes']);
  t.true(worker.spec.template.spec.containers[0]!.env.some((variable) => variable.name === 'DRAAS_REDIS_URL'));

  const binding = find('RoleBinding', 'draas-worker') as Manifest & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };
  t.like(binding.roleRef, { kind: 'Role', name: 'draas-worker' });
  t.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'draas-worker', namespace: 'draas' }]);
  t.truthy(find('ServiceAccount', 'draas-worker'));

  const controlPlane = find('Deployment', 'draas-control-plane') as Manifest & {
    spec: { template: { spec: { automountServiceAccountToken: boolean; containers: { args: string[]; readinessProbe: { httpGet: { path: string } } }[] } } };
  };
  const container = controlPlane.spec.template.spec.containers[0]!;
  t.is(container.args[0], 'control-plane');
  t.is(container.readinessProbe.httpGet.path, '/readyz');
  t.false(controlPlane.spec.template.spec.automountServiceAccountToken, 'the control plane needs no Kubernetes API token');
});

if (toolAvailable('kubectl', 'deploy manifests (kubectl kustomize)')) {
  test('kubectl kustomize builds the base offline: every object lands in the draas namespace with the DRaaS image', async (t) => {
    const { stdout } = await execa('kubectl', ['kustomize', deployDir]);
    const objects = parseAllDocuments(stdout).map((document) => document.toJS() as Manifest);
    const kinds = objects.map((object) => `${object.kind}/${object.metadata?.name}`).sort();
    t.deepEqual(kinds, [
      'Deployment/draas-control-plane',
      'Deployment/draas-worker-kubernetes',
      'Namespace/draas',
      'Role/draas-worker',
      'RoleBinding/draas-worker',
      'Service/draas-control-plane',
      'Service/draas-redis',
      'ServiceAccount/draas-worker',
      'StatefulSet/draas-redis',
    ]);
    for (const object of objects.filter((entry) => entry.kind !== 'Namespace')) t.is(object.metadata?.namespace, 'draas', `${object.kind}/${object.metadata?.name}`);
    t.regex(stdout, /image: registry\.example\/draas:0\.1\.0/);
  });
}

test('RBAC: the Kubernetes driver needs exactly the worker Role — nothing it uses is denied, nothing the Role grants is unused', async (t) => {
  const role = workerRole();
  const cluster = await startCluster(t, { authorization: { rules: role.rules, user: 'system:serviceaccount:draas:draas-worker' } });
  const driver = cluster.driver();
  const events = collect(driver);

  t.deepEqual(await driver.availability(), { available: true });
  await driver.recover();
  // A start with a claim; its logs, read and followed.
  const ref = await driver.start(spec('rbac-kept', { platformOptions: { storage: { size: '1Gi' } } }));
  t.true((await driver.logs('rbac-kept', { tail: 10 })).length > 0);
  const read = await driver.readLogs('rbac-kept', { tail: 5 });
  await driver.readLogs('rbac-kept', { tail: 5, after: read.cursor });
  // A crash: reported, scaled to 0.
  await driver.start(spec('rbac-crash', { env: { DRASI_DOUBLE_EXIT_AFTER_MS: '1000', DRASI_DOUBLE_EXIT_CODE: '3' } }));
  t.truthy(await events.next((event) => event.type === 'exited' && event.instanceId === 'rbac-crash'));
  // An image that cannot be pulled.
  await t.throwsAsync(driver.start(spec('rbac-nopull', { platformOptions: { image: 'registry.example/nothing:1' } })), { instanceOf: WorkloadFailedError });
  // A ConfigMap that cannot be mounted (the pod held unschedulable while it is deleted behind the driver's back).
  cluster.kube.knobs.setNodeCapacity({ cpu: 0.1, memory: 32 * 1024 ** 3 });
  const nomap = driver.start(spec('rbac-nomap', { startTimeoutMs: 30_000, platformOptions: { cpus: 1 } }));
  nomap.catch(() => undefined);
  t.truthy(await eventually(async () => (await livePods(cluster, 'rbac-nomap')).length === 1));
  await cluster.core.deleteNamespacedConfigMap({ name: 'draas-rbac-nomap-config', namespace: 'draas' });
  cluster.kube.knobs.setNodeCapacity({ cpu: 8, memory: 32 * 1024 ** 3 });
  await t.throwsAsync(nomap, { instanceOf: WorkloadFailedError, message: /FailedMount/ });
  // The server's own API through pods/proxy (a configuration change without a restart, a drift check): read, create, upsert, delete.
  const server = driver.serverApi('rbac-kept');
  t.truthy(server, 'a running pod has a server API');
  const source = { kind: 'mock', id: 'added' };
  const applied = await applyComponentCalls(server!, [
    { method: 'POST', path: '/api/v1/sources', body: source, component: { kind: 'source', id: 'added' }, why: 'rbac' },
    { method: 'PUT', path: '/api/v1/sources/added', body: { ...source, intervalMs: 500 }, component: { kind: 'source', id: 'added' }, why: 'rbac' },
    { method: 'DELETE', path: '/api/v1/sources/added', component: { kind: 'source', id: 'added' }, why: 'rbac' },
  ], { timeoutMs: 10_000 });
  t.like(applied, { ok: true });
  t.true(Array.isArray((await readObservedComponents(server!, { full: true, timeoutMs: 10_000 })).sources));
  // Stop, then a new generation.
  await driver.stop('rbac-kept', { graceMs: 3_000 });
  t.is(driver.serverApi('rbac-kept'), undefined, 'none once stopped');
  await driver.start(spec('rbac-kept', { generation: 2 }));
  // A restarted worker: recovery adopts, reap of the lost worker's workload, removal of everything.
  const successor = cluster.driver();
  const report = await successor.recover();
  t.true(report.adopted.some((adopted) => adopted.instanceId === 'rbac-kept'));
  t.false((await successor.reap(ref)).reaped, 'the first start is not the one running');
  for (const instanceId of ['rbac-kept', 'rbac-crash', 'rbac-nopull', 'rbac-nomap']) await successor.remove(instanceId, { graceMs: 3_000 });
  t.deepEqual(await successor.availability(), { available: true });

  const requests = cluster.kube.requests();
  const denied = new Set(requests.filter((record) => !record.allowed).map((record) => `${usage(record)}${record.namespace === undefined ? ' (cluster scope)' : ''}`));
  // Cluster-scope reads a namespaced service account cannot have; the driver falls back from both.
  const optional = new Set(['get /namespaces (cluster scope)', 'list apps/deployments (cluster scope)']);
  t.deepEqual([...denied].filter((entry) => !optional.has(entry)), [], 'denied requests the driver depends on');
  const used = new Set(requests.filter((record) => record.allowed).map(usage));
  const unused = [...grants(role.rules)].filter((grant) => !used.has(grant));
  t.deepEqual(unused, [], 'verbs the Role grants and the driver never used');
  t.log(`the driver used: ${[...used].sort().join(', ')}`);
});

test('RBAC is enforced by the double: a Role without "create configmaps" makes a start fail with the API server\'s Forbidden', async (t) => {
  const rules = workerRole().rules.map((rule) =>
    rule.resources.includes('configmaps') ? { ...rule, verbs: rule.verbs.filter((verb) => verb !== 'create') } : rule,
  );
  const cluster = await startCluster(t, { authorization: { rules, user: 'system:serviceaccount:draas:draas-worker' } });
  const driver = cluster.driver();
  const error = await t.throwsAsync(driver.start(spec('rbac-denied')), { instanceOf: WorkloadFailedError });
  t.regex(error.message, /forbidden/i);
  const denied = cluster.kube.requests().filter((record) => !record.allowed);
  t.deepEqual(denied.map(usage), ['create /configmaps']);
});
