/**
 * The reconciler with the memory driver: what it does where no server API
 * can be reached, with a workload that runs against the desired state, and
 * with bad input; and how it spreads its checks over the interval.
 */
import test from 'ava';
import { spreadOffset } from '../../src/actors/reconciler.js';
import { BadRequestError, NotFoundError } from '../../src/errors.js';
import { memoryControlPlane, serve } from '../helpers/memory-api.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a workload running although its instance is Stopped is stopped by the next check, and the comparison says so', async (t) => {
  const { controlPlane, driver } = await memoryControlPlane(t);
  await controlPlane.create({ name: 'rest' });
  await controlPlane.start('rest');
  await controlPlane.stop('rest');
  t.false(driver.running.has('rest'));
  // Behind DRaaS's back: the worker's driver runs it again.
  await driver.start({ instanceId: 'rest', generation: 1, config: {}, env: {}, startTimeoutMs: 1_000 });
  t.true(driver.running.has('rest'));
  const comparison = await controlPlane.reconcile('rest');
  t.like(comparison, { instanceId: 'rest', status: 'Stopped', outcome: 'unwanted-workload' });
  t.regex(comparison.reason ?? '', /ran although the instance is Stopped \(desired Stopped\); stopped/);
  t.false(driver.running.has('rest'), 'stopped');
  t.like(await controlPlane.drift('rest'), { outcome: 'unwanted-workload' });
  t.like(await controlPlane.reconcile('rest'), { outcome: 'not-running' });
  t.is((await controlPlane.get('rest')).status, 'Stopped');
});

test('where the worker cannot reach the server API, a change of a Running instance is applied by a restart, which the history explains', async (t) => {
  const { controlPlane, driver } = await memoryControlPlane(t);
  await controlPlane.create({ name: 'opaque', configuration: { sources: [{ kind: 'mock', id: 'one' }] } });
  const started = await controlPlane.start('opaque');
  t.like(await controlPlane.reconcile('opaque'), { outcome: 'not-comparable', generation: 1 });
  t.regex((await controlPlane.drift('opaque'))?.reason ?? '', /cannot reach a server's own API/);
  await controlPlane.patchConfig('opaque', [{ op: 'add', path: '/sources/-', value: { kind: 'mock', id: 'two' } }]);
  let view = await controlPlane.status('opaque');
  for (let i = 0; i < 100 && !(view.status === 'Running' && view.observedGeneration === 2); i++) {
    await sleep(20);
    view = await controlPlane.status('opaque');
  }
  t.like(view, { status: 'Running', generation: 2, observedGeneration: 2 });
  t.not((await controlPlane.get('opaque')).runtime?.workloadId, started.runtime?.workloadId, 'a new workload');
  const why = view.history.find((entry) => entry.from === 'Reconfiguring' && entry.to === 'Stopping');
  t.regex(why?.reason ?? '', /not applied without a restart: the process platform's worker cannot reach a server's own API/);
  t.deepEqual(driver.specs.at(-1)?.config['sources'], [{ kind: 'mock', id: 'one' }, { kind: 'mock', id: 'two' }]);
});

test('a check of one instance asks its worker about that instance alone, not for the whole fleet', async (t) => {
  const { controlPlane, driver } = await memoryControlPlane(t);
  for (let i = 0; i < 10; i++) {
    await controlPlane.create({ name: `fleet-${i}` });
    await controlPlane.start(`fleet-${i}`);
  }
  const before = { ...driver.reads };
  t.like(await controlPlane.reconcile('fleet-3'), { outcome: 'not-comparable' });
  t.is(driver.reads.list, before.list, 'no list of the fleet');
  t.is(driver.reads.inspect, before.inspect + 1, 'one inspect');
  // A workload gone behind DRaaS's back is still found by that inspect.
  driver.running.delete('fleet-4');
  t.like(await controlPlane.reconcile('fleet-4'), { outcome: 'not-comparable' });
  const history = (await controlPlane.status('fleet-4')).history;
  t.true(history.some((entry) => entry.from === 'Running' && entry.to === 'Failed' && entry.cause === 'workload.exited'), JSON.stringify(history));
  t.is(driver.reads.list, before.list);
});

test('reconcile and drift: bad ids are 400, unknown ones 404, and an instance never checked says so', async (t) => {
  const { call, controlPlane } = await serve(t);
  await controlPlane.create({ name: 'fresh' });
  t.is(await controlPlane.drift('fresh'), null);
  const fresh = await call('GET', '/api/status/fresh/drift');
  t.is(fresh.status, 200);
  t.like(fresh.body, { instanceId: 'fresh', outcome: 'not-checked' });
  for (const [method, path] of [
    ['GET', '/api/status/nobody/drift'],
    ['POST', '/api/server/instances/nobody/reconcile'],
  ] as const) {
    const answer = await call(method, path);
    t.is(answer.status, 404, path);
    t.regex(answer.type, /application\/problem\+json/);
  }
  for (const [method, path] of [
    ['GET', '/api/status/Bad_Id/drift'],
    ['POST', '/api/server/instances/Bad_Id/reconcile'],
  ] as const) {
    const answer = await call(method, path);
    t.is(answer.status, 400, path);
    t.regex(answer.type, /application\/problem\+json/);
  }
  await t.throwsAsync(controlPlane.reconcile('nobody'), { instanceOf: NotFoundError });
  await t.throwsAsync(controlPlane.drift('Bad_Id'), { instanceOf: BadRequestError });
  t.is((await call('GET', '/api/server/instances/fresh/reconcile')).status, 405);
});

test('update strategies: a bad one is refused at create and per change, and nothing is changed', async (t) => {
  const { call } = await serve(t);
  const bad = await call('POST', '/api/server/instances', { name: 'strat', updateStrategy: 'sometimes' });
  t.is(bad.status, 400);
  t.regex(String(bad.body?.['detail'] ?? ''), /updateStrategy/);
  t.is((await call('GET', '/api/server/instances/strat')).status, 404, 'nothing created');
  t.is((await call('POST', '/api/server/instances', { name: 'strat', updateStrategy: 'manual' })).status, 201);
  t.is((await call('GET', '/api/server/instances/strat')).body?.['updateStrategy'], 'manual');
  const patch = [{ op: 'add', path: '/sources', value: [{ kind: 'mock', id: 's' }] }];
  for (const query of ['?updateStrategy=sometimes', '?updateStrategy=auto&updateStrategy=restart', '?unknown=1']) {
    const refused = await call('PATCH', `/api/configuration/instances/strat${query}`, patch);
    t.is(refused.status, 400, query);
    t.regex(refused.type, /application\/problem\+json/);
  }
  t.is((await call('GET', '/api/configuration/instances/strat')).body?.['generation'], 1, 'no new generation');
  const accepted = await call('PATCH', '/api/configuration/instances/strat?updateStrategy=restart', patch);
  t.is(accepted.status, 200);
  t.is(accepted.body?.['generation'], 2);
});

test('checks spread over the interval: ten thousand instances never crowd one second of thirty', (t) => {
  const interval = 30_000;
  const perSecond = new Array<number>(30).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const offset = spreadOffset(`instance-${i}`, interval);
    t.true(offset >= 0 && offset < interval);
    perSecond[Math.floor(offset / 1_000)]! += 1;
  }
  const mean = 10_000 / 30;
  t.log(`per second: min ${Math.min(...perSecond)}, max ${Math.max(...perSecond)}, mean ${mean.toFixed(0)}`);
  t.true(Math.max(...perSecond) < mean * 1.3);
  t.true(Math.min(...perSecond) > mean * 0.7);
  t.is(spreadOffset('same', interval), spreadOffset('same', interval), 'the same offset every time');
});
