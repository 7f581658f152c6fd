/**
 * The wire contract of the Kubernetes API server double: what a real API
 * server answers, byte for byte where clients depend on it (Status
 * reasons and codes, resourceVersion semantics, watch events).
 */
import test from 'ava';
import { startKubeApiDouble, type KubeApiDoubleHandle } from '../helpers/kube-api.js';
import { eventually, field, kubeRequest, names, WatchReader } from '../helpers/kube-http.js';

let kube: KubeApiDoubleHandle;

test.before(async () => {
  kube = await startKubeApiDouble({ namespace: 'wire', watchTimeoutMs: 20_000, bookmarkIntervalMs: 200 });
});

test.after.always(async () => {
  await kube?.close();
});

/** A namespace of its own for each test (tests run concurrently against one double). */
async function namespace(name: string): Promise<string> {
  const created = await kubeRequest(kube, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  if (created.status !== 201) throw new Error(`namespace ${name}: ${created.text}`);
  return name;
}

function configMap(name: string, labels: Record<string, string> = {}, data: Record<string, string> = { key: 'value' }): unknown {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data };
}

test('requests without the bearer token get a 401 Status; /version and discovery answer', async (t) => {
  for (const token of [null, 'wrong-token']) {
    const denied = await kubeRequest(kube, 'GET', '/api/v1/namespaces/wire/configmaps', { token });
    t.is(denied.status, 401);
    t.like(denied.body, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
  }
  const version = await kubeRequest(kube, 'GET', '/version', { token: null });
  t.is(version.status, 200);
  t.regex(String(field(version.body, 'gitVersion')), /^v1\.33\./);
  const core = await kubeRequest(kube, 'GET', '/api/v1');
  const coreNames = (field(core.body, 'resources') as { name: string }[]).map((resource) => resource.name);
  for (const name of ['namespaces', 'configmaps', 'secrets', 'services', 'pods', 'pods/log', 'pods/status', 'persistentvolumeclaims', 'serviceaccounts']) t.true(coreNames.includes(name), name);
  const apps = await kubeRequest(kube, 'GET', '/apis/apps/v1');
  const appsNames = (field(apps.body, 'resources') as { name: string }[]).map((resource) => resource.name);
  for (const name of ['deployments', 'deployments/scale', 'deployments/status', 'replicasets']) t.true(appsNames.includes(name), name);
  t.like((await kubeRequest(kube, 'GET', '/apis')).body, { kind: 'APIGroupList', groups: [{ name: 'apps' }] });
  t.like((await kubeRequest(kube, 'GET', '/api')).body, { kind: 'APIVersions', versions: ['v1'] });
});

test('errors are metav1 Status objects with the real reasons, codes and details', async (t) => {
  const ns = await namespace('errors');
  const missing = await kubeRequest(kube, 'GET', `/apis/apps/v1/namespaces/${ns}/deployments/nope`);
  t.is(missing.status, 404);
  t.deepEqual(missing.body, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'deployments.apps "nope" not found',
    reason: 'NotFound',
    details: { name: 'nope', group: 'apps', kind: 'deployments' },
    code: 404,
  });

  t.is((await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('twice') })).status, 201);
  const again = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('twice') });
  t.is(again.status, 409);
  t.like(again.body, { reason: 'AlreadyExists', code: 409, message: 'configmaps "twice" already exists', details: { name: 'twice', kind: 'configmaps' } });

  const badName = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('Bad_Name') });
  t.is(badName.status, 422);
  t.like(badName.body, { reason: 'Invalid', code: 422, details: { name: 'Bad_Name', kind: 'ConfigMap', causes: [{ reason: 'FieldValueInvalid', field: 'metadata.name' }] } });
  t.regex(String(field(badName.body, 'message')), /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);

  const noSelector = await kubeRequest(kube, 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
    body: { metadata: { name: 'web' }, spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web' }] } } } },
  });
  t.is(noSelector.status, 422);
  const causes = field(noSelector.body, 'details.causes') as { field: string; reason: string }[];
  t.true(causes.some((cause) => cause.field === 'spec.selector' && cause.reason === 'FieldValueRequired'));
  t.true(causes.some((cause) => cause.field === 'spec.template.spec.containers[0].image' && cause.reason === 'FieldValueRequired'));
  t.like(noSelector.body, { details: { group: 'apps', kind: 'Deployment' } });

  const noName = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { data: {} } });
  t.like(noName.body, { code: 422, details: { causes: [{ reason: 'FieldValueRequired', message: 'name or generateName is required', field: 'metadata.name' }] } });

  const noNamespace = await kubeRequest(kube, 'POST', '/api/v1/namespaces/absent/configmaps', { body: configMap('x') });
  t.is(noNamespace.status, 404);
  t.like(noNamespace.body, { reason: 'NotFound', message: 'namespaces "absent" not found', details: { name: 'absent', kind: 'namespaces' } });

  const yaml = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: 'metadata: {name: y}', contentType: 'application/yaml' });
  t.is(yaml.status, 415);
  t.like(yaml.body, { reason: 'UnsupportedMediaType', code: 415 });

  const badSelector = await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps?labelSelector=${encodeURIComponent('a in b')}`);
  t.is(badSelector.status, 400);
  t.like(badSelector.body, { reason: 'BadRequest' });

  const stopSignal = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/pods`, {
    body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'drasi-server', lifecycle: { stopSignal: 'SIGINT' } }] } },
  });
  t.is(stopSignal.status, 422);
  t.like(stopSignal.body, { details: { causes: [{ field: 'spec.containers[0].lifecycle.stopSignal', reason: 'FieldValueForbidden' }] } });
});

test('updates use optimistic concurrency: a stale resourceVersion is a 409 Conflict', async (t) => {
  const ns = await namespace('concurrency');
  const created = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('cfg') });
  const firstVersion = String(field(created.body, 'metadata.resourceVersion'));
  t.regex(firstVersion, /^\d+$/);
  t.regex(String(field(created.body, 'metadata.uid')), /^[0-9a-f-]{36}$/);
  t.regex(String(field(created.body, 'metadata.creationTimestamp')), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const update = (resourceVersion: string, value: string) =>
    kubeRequest(kube, 'PUT', `/api/v1/namespaces/${ns}/configmaps/cfg`, { body: { ...(configMap('cfg') as object), metadata: { name: 'cfg', resourceVersion }, data: { key: value } } });
  const updated = await update(firstVersion, 'second');
  t.is(updated.status, 200);
  const secondVersion = String(field(updated.body, 'metadata.resourceVersion'));
  t.true(Number(secondVersion) > Number(firstVersion));
  t.is(field(updated.body, 'metadata.uid'), field(created.body, 'metadata.uid'));

  const stale = await update(firstVersion, 'third');
  t.is(stale.status, 409);
  t.like(stale.body, {
    reason: 'Conflict',
    code: 409,
    message: 'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; please apply your changes to the latest version and try again',
  });
  t.is(field((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps/cfg`)).body, 'data.key'), 'second');
});

test('PATCH takes merge, JSON and strategic merge patches', async (t) => {
  const ns = await namespace('patches');
  await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('cfg', { tier: 'a' }, { one: '1', two: '2' }) });
  const merged = await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/cfg`, { body: { data: { one: null, three: '3' } }, contentType: 'application/merge-patch+json' });
  t.is(merged.status, 200);
  t.deepEqual(field(merged.body, 'data'), { two: '2', three: '3' });

  const jsonPatched = await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/cfg`, {
    body: [
      { op: 'test', path: '/data/two', value: '2' },
      { op: 'replace', path: '/metadata/labels/tier', value: 'b' },
    ],
    contentType: 'application/json-patch+json',
  });
  t.is(jsonPatched.status, 200);
  t.is(field(jsonPatched.body, 'metadata.labels.tier'), 'b');
  const failedTest = await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/cfg`, {
    body: [{ op: 'test', path: '/data/two', value: 'nope' }],
    contentType: 'application/json-patch+json',
  });
  t.is(failedTest.status, 422);

  const deployment = {
    metadata: { name: 'web' },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'a', image: 'img-a', env: [{ name: 'X', value: '1' }] }, { name: 'b', image: 'img-b' }] },
      },
    },
  };
  t.is((await kubeRequest(kube, 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, { body: deployment })).status, 201);
  const strategic = await kubeRequest(kube, 'PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/web`, {
    body: { spec: { template: { spec: { containers: [{ name: 'b', image: 'img-b2' }] } } } },
    contentType: 'application/strategic-merge-patch+json',
  });
  t.is(strategic.status, 200);
  t.deepEqual(
    (field(strategic.body, 'spec.template.spec.containers') as { name: string; image: string }[]).map(({ name, image }) => `${name}=${image}`),
    ['a=img-a', 'b=img-b2'],
  );
  t.is(field(strategic.body, 'metadata.generation'), 2);
  t.is(field(strategic.body, 'spec.template.spec.containers.0.env.0.value'), '1');

  const scaled = await kubeRequest(kube, 'PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/web/scale`, { body: { spec: { replicas: 0 } }, contentType: 'application/merge-patch+json' });
  t.like(scaled.body, { kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 0 }, status: { selector: 'app=web' } });

  const yaml = await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/cfg`, { body: 'data: {}', contentType: 'application/yaml' });
  t.is(yaml.status, 415);
});

test('lists filter by label selectors (=, !=, in, notin, exists, !exists) and metadata.name, and page with limit/continue', async (t) => {
  const ns = await namespace('selectors');
  const labelsOf: Record<string, Record<string, string>> = {
    a: { app: 'web', tier: 'front' },
    b: { app: 'web', tier: 'back' },
    c: { app: 'db' },
    d: {},
  };
  for (const [name, labels] of Object.entries(labelsOf)) await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap(name, labels) });
  const select = async (query: string) => names((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps?${query}`)).body);
  const label = (selector: string) => select(`labelSelector=${encodeURIComponent(selector)}`);
  t.deepEqual(await label('app=web'), ['a', 'b']);
  t.deepEqual(await label('app==web,tier!=back'), ['a']);
  t.deepEqual(await label('app!=web'), ['c', 'd']);
  t.deepEqual(await label('tier in (front, back)'), ['a', 'b']);
  t.deepEqual(await label('app notin (web)'), ['c', 'd']);
  t.deepEqual(await label('tier'), ['a', 'b']);
  t.deepEqual(await label('!tier'), ['c', 'd']);
  t.deepEqual(await select(`fieldSelector=${encodeURIComponent('metadata.name=c')}`), ['c']);
  t.deepEqual(await select(`fieldSelector=${encodeURIComponent('metadata.name!=c')}`), ['a', 'b', 'd']);
  const unsupported = await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps?fieldSelector=${encodeURIComponent('data.key=value')}`);
  t.is(unsupported.status, 400);
  t.like(unsupported.body, { reason: 'BadRequest' });

  const list = await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps`);
  t.like(list.body, { kind: 'ConfigMapList', apiVersion: 'v1' });
  t.regex(String(field(list.body, 'metadata.resourceVersion')), /^\d+$/);

  const first = await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps?limit=3`);
  t.deepEqual(names(first.body), ['a', 'b', 'c']);
  const token = String(field(first.body, 'metadata.continue'));
  const rest = await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps?limit=3&continue=${encodeURIComponent(token)}`);
  t.deepEqual(names(rest.body), ['d']);
  t.is(field(rest.body, 'metadata.continue'), undefined);
});

test('a watch from a resourceVersion streams ADDED, MODIFIED, DELETED in order, with BOOKMARKs, and the server closes it', async (t) => {
  const ns = await namespace('watching');
  await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('before') });
  const list = await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps`);
  const version = String(field(list.body, 'metadata.resourceVersion'));
  const watch = new WatchReader(kube, `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${version}&allowWatchBookmarks=true&timeoutSeconds=8`);
  t.teardown(() => watch.close());
  await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('during', { app: 'x' }) });
  await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/during`, { body: { data: { key: 'changed' } }, contentType: 'application/merge-patch+json' });
  const deleted = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/during`);
  t.like(deleted.body, { kind: 'Status', status: 'Success', details: { name: 'during', kind: 'configmaps' } });
  await watch.next((event) => event.type === 'DELETED');
  const changes = watch.events.filter((event) => event.type !== 'BOOKMARK');
  t.deepEqual(
    changes.map((event) => `${event.type} ${String(field(event.object, 'metadata.name'))}`),
    ['ADDED during', 'MODIFIED during', 'DELETED during'],
  );
  const versions = changes.map((event) => Number(field(event.object, 'metadata.resourceVersion')));
  t.true(versions.every((value, index) => index === 0 || value > (versions[index - 1] ?? 0)));
  const bookmark = await watch.next((event) => event.type === 'BOOKMARK');
  t.like(bookmark.object, { kind: 'ConfigMap', apiVersion: 'v1' });
  t.regex(String(field(bookmark.object, 'metadata.resourceVersion')), /^\d+$/);
  await watch.ended;
  t.is(watch.status, 200);

  // Without a resourceVersion the watch starts with what exists.
  const fresh = new WatchReader(kube, `/api/v1/namespaces/${ns}/configmaps?watch=true&timeoutSeconds=1`);
  t.teardown(() => fresh.close());
  const added = await fresh.next((event) => event.type === 'ADDED');
  t.is(field(added.object, 'metadata.name'), 'before');
});

test('a watch with a label selector sees an object leave and enter the selection as DELETED and ADDED', async (t) => {
  const ns = await namespace('selected-watch');
  await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('moving', { app: 'in' }) });
  const version = String(field((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps`)).body, 'metadata.resourceVersion'));
  const watch = new WatchReader(kube, `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${version}&labelSelector=app%3Din`);
  t.teardown(() => watch.close());
  const relabel = (value: string) => kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/moving`, { body: { metadata: { labels: { app: value } } }, contentType: 'application/merge-patch+json' });
  await relabel('out');
  await watch.next((event) => event.type === 'DELETED');
  await relabel('in');
  await watch.next((event) => event.type === 'ADDED');
  t.deepEqual(watch.events.filter((event) => event.type !== 'BOOKMARK').map((event) => event.type), ['DELETED', 'ADDED']);
});

test('closeAllWatches ends open streams', async (t) => {
  // A double of its own: the knob would cut the other tests' watches too.
  const own = await startKubeApiDouble();
  t.teardown(() => own.close());
  const watch = new WatchReader(own, '/api/v1/namespaces/draas/configmaps?watch=true');
  t.teardown(() => watch.close());
  await eventually(() => (watch.status === 200 ? true : undefined), 'watch open');
  own.knobs.closeAllWatches();
  await watch.ended;
  t.pass();
});

test('foreground deletion keeps the owner until its dependents are gone; background and orphan do what they say', async (t) => {
  const ns = await namespace('deletion');
  const create = async (name: string, owner?: unknown, finalizers?: string[]) => {
    const metadata: Record<string, unknown> = { name };
    if (owner !== undefined) metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'ConfigMap', name: field(owner, 'metadata.name'), uid: field(owner, 'metadata.uid'), blockOwnerDeletion: true }];
    if (finalizers !== undefined) metadata.finalizers = finalizers;
    return (await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { metadata, data: {} } })).body;
  };
  const get = (name: string) => kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps/${name}`);

  const owner = await create('owner');
  await create('held', owner, ['example.com/hold']);
  const deleted = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/owner`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' } });
  t.is(deleted.status, 200);
  t.deepEqual(field(deleted.body, 'metadata.finalizers'), ['foregroundDeletion']);
  t.truthy(field(deleted.body, 'metadata.deletionTimestamp'));
  // The dependent is being deleted but its own finalizer holds it, so the owner stays.
  const held = await eventually(async () => {
    const response = await get('held');
    return field(response.body, 'metadata.deletionTimestamp') !== undefined ? response : undefined;
  }, 'dependent marked for deletion');
  t.is((await get('owner')).status, 200);
  await kubeRequest(kube, 'PATCH', `/api/v1/namespaces/${ns}/configmaps/held`, { body: { metadata: { finalizers: null, resourceVersion: field(held.body, 'metadata.resourceVersion') } }, contentType: 'application/merge-patch+json' });
  await eventually(async () => ((await get('owner')).status === 404 ? true : undefined), 'owner removed after its dependent');
  t.is((await get('held')).status, 404);

  const parent = await create('parent');
  await create('child', parent);
  await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/parent?propagationPolicy=Background`);
  t.is((await get('parent')).status, 404);
  await eventually(async () => ((await get('child')).status === 404 ? true : undefined), 'background collection of the child');

  const keeper = await create('keeper');
  await create('orphan', keeper);
  await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/keeper?propagationPolicy=Orphan`);
  await eventually(async () => ((await get('keeper')).status === 404 ? true : undefined), 'orphaning owner removed');
  const orphan = await get('orphan');
  t.is(orphan.status, 200);
  t.is(field(orphan.body, 'metadata.ownerReferences'), undefined);
});

test('deleting a namespace leaves it Terminating until its contents are gone', async (t) => {
  const ns = await namespace('doomed');
  await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('inside') });
  const deleted = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}`);
  t.is(field(deleted.body, 'status.phase'), 'Terminating');
  const refused = await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('late') });
  t.true(refused.status === 403 || refused.status === 404);
  await eventually(async () => ((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}`)).status === 404 ? true : undefined), 'namespace removed');
  t.is((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps/inside`)).status, 404);
});

test('a watch from a compacted resourceVersion gets 410 Expired, in the stream (default) or as the response', async (t) => {
  for (const mode of ['event', 'http'] as const) {
    const own = await startKubeApiDouble({ expiredWatchAs: mode });
    t.teardown(() => own.close());
    await kubeRequest(own, 'POST', '/api/v1/namespaces/draas/configmaps', { body: configMap('one') });
    const old = String(field((await kubeRequest(own, 'GET', '/api/v1/namespaces/draas/configmaps')).body, 'metadata.resourceVersion'));
    await kubeRequest(own, 'POST', '/api/v1/namespaces/draas/configmaps', { body: configMap('two') });
    own.knobs.compactHistory();
    const path = `/api/v1/namespaces/draas/configmaps?watch=true&resourceVersion=${Number(old) - 1}`;
    if (mode === 'event') {
      const watch = new WatchReader(own, path);
      t.teardown(() => watch.close());
      const error = await watch.next((event) => event.type === 'ERROR');
      t.like(error.object, { kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
      t.regex(String(field(error.object, 'message')), /^too old resource version: \d+ \(\d+\)$/);
      await watch.ended;
    } else {
      const response = await kubeRequest(own, 'GET', path);
      t.is(response.status, 410);
      t.like(response.body, { kind: 'Status', reason: 'Expired', code: 410 });
    }
    // From the current resourceVersion, watching works again.
    const current = String(field((await kubeRequest(own, 'GET', '/api/v1/namespaces/draas/configmaps')).body, 'metadata.resourceVersion'));
    const resumed = new WatchReader(own, `/api/v1/namespaces/draas/configmaps?watch=true&resourceVersion=${current}`);
    t.teardown(() => resumed.close());
    await kubeRequest(own, 'POST', '/api/v1/namespaces/draas/configmaps', { body: configMap('three') });
    const added = await resumed.next((event) => event.type === 'ADDED');
    t.is(field(added.object, 'metadata.name'), 'three');
  }
});

test('the availability knob makes the API answer 503 or refuse connections, then serve again', async (t) => {
  const own = await startKubeApiDouble();
  t.teardown(() => own.close());
  await own.knobs.setAvailability('unavailable');
  const unavailable = await kubeRequest(own, 'GET', '/api/v1/namespaces');
  t.is(unavailable.status, 503);
  t.like(unavailable.body, { kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
  await own.knobs.setAvailability('refusing');
  const refused = await kubeRequest(own, 'GET', '/api/v1/namespaces').then(
    () => 'answered',
    (error: unknown) => String(field(error, 'cause.code')),
  );
  t.is(refused, 'ECONNREFUSED');
  await own.knobs.setAvailability('serving');
  t.is((await kubeRequest(own, 'GET', '/api/v1/namespaces')).status, 200);
});

test('with the ContainerStopSignals gate off, the server drops lifecycle.stopSignal silently (a real 1.33 default)', async (t) => {
  const own = await startKubeApiDouble({ featureGates: { ContainerStopSignals: false } });
  t.teardown(() => own.close());
  const created = await kubeRequest(own, 'POST', '/apis/apps/v1/namespaces/draas/deployments', {
    body: {
      metadata: { name: 'gated' },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'gated' } },
        template: { metadata: { labels: { app: 'gated' } }, spec: { os: { name: 'linux' }, containers: [{ name: 'c', image: 'drasi-server', lifecycle: { stopSignal: 'SIGINT' } }] } },
      },
    },
  });
  t.is(created.status, 201);
  t.is(field(created.body, 'spec.template.spec.containers.0.lifecycle'), undefined);
});

test('deletecollection deletes what a label selector picks and answers the list of deleted objects', async (t) => {
  const ns = await namespace('collection');
  for (const [name, app] of [['one', 'x'], ['two', 'x'], ['three', 'y']] as const) {
    await kubeRequest(kube, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap(name, { app }) });
  }
  const deleted = await kubeRequest(kube, 'DELETE', `/api/v1/namespaces/${ns}/configmaps?labelSelector=app%3Dx`);
  t.is(deleted.status, 200);
  t.like(deleted.body, { kind: 'ConfigMapList' });
  t.deepEqual(names(deleted.body).sort(), ['one', 'two']);
  t.deepEqual(names((await kubeRequest(kube, 'GET', `/api/v1/namespaces/${ns}/configmaps`)).body), ['three']);
});

test('server-side apply creates, owns fields per manager, removes what a manager stops applying, and reports conflicts', async (t) => {
  const ns = await namespace('server-side-apply');
  const path = `/api/v1/namespaces/${ns}/configmaps/applied`;
  const apply = (manager: string | undefined, yaml: string, force = false) =>
    kubeRequest(kube, 'PATCH', `${path}?${manager === undefined ? '' : `fieldManager=${manager}`}${force ? '&force=true' : ''}`, { body: yaml, contentType: 'application/apply-patch+yaml' });
  const config = (data: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  labels: {app: demo}\ndata:\n${data}`;

  const anonymous = await apply(undefined, config('  a: "1"\n'));
  t.is(anonymous.status, 422);
  t.like(anonymous.body, { reason: 'Invalid', details: { causes: [{ field: 'fieldManager' }] } });

  const created = await apply('alpha', config('  a: "1"\n  b: "2"\n'));
  t.is(created.status, 201);
  t.deepEqual(field(created.body, 'data'), { a: '1', b: '2' });
  t.like(field(created.body, 'metadata.managedFields.0'), { manager: 'alpha', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:a': {}, 'f:b': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } } });

  const shrunk = await apply('alpha', config('  a: "1"\n  c: "3"\n'));
  t.is(shrunk.status, 200);
  t.deepEqual(field(shrunk.body, 'data'), { a: '1', c: '3' });

  const conflict = await apply('beta', config('  c: "other"\n'));
  t.is(conflict.status, 409);
  t.like(conflict.body, { reason: 'Conflict', code: 409, details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "alpha" using v1', field: '.data.c' }] } });
  t.regex(String(field(conflict.body, 'message')), /^Apply failed with 1 conflict: conflict with "alpha" using v1: \.data\.c/);

  const same = await apply('beta', config('  a: "1"\n'));
  t.is(same.status, 200, 'applying the same value is shared ownership, not a conflict');

  const forced = await apply('beta', config('  a: "1"\n  c: "other"\n'), true);
  t.is(forced.status, 200);
  t.deepEqual(field(forced.body, 'data'), { a: '1', c: 'other' });
  const managers = field(forced.body, 'metadata.managedFields') as unknown[];
  const alpha = managers.find((entry) => field(entry, 'manager') === 'alpha');
  t.is(field(alpha, 'fieldsV1.f:data.f:c'), undefined);
  t.deepEqual(field(alpha, 'fieldsV1.f:data.f:a'), {});

  // A field two managers own stays when one of them stops applying it.
  const alphaDropsA = await apply('alpha', config('  d: "4"\n'));
  t.deepEqual(field(alphaDropsA.body, 'data'), { a: '1', c: 'other', d: '4' });

  // Keyed lists merge item by item: each manager's container survives the other's apply.
  const deployment = (container: string, image: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: ${container}, image: ${image}}\n`;
  const deploymentPath = `/apis/apps/v1/namespaces/${ns}/deployments/web`;
  t.is((await kubeRequest(kube, 'PATCH', `${deploymentPath}?fieldManager=alpha`, { body: deployment('a', 'img-a'), contentType: 'application/apply-patch+yaml' })).status, 201);
  const both = await kubeRequest(kube, 'PATCH', `${deploymentPath}?fieldManager=beta`, { body: deployment('b', 'img-b'), contentType: 'application/apply-patch+yaml' });
  t.is(both.status, 200);
  t.deepEqual((field(both.body, 'spec.template.spec.containers') as unknown[]).map((container) => field(container, 'name')), ['a', 'b']);
});
