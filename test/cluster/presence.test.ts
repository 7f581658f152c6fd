/**
 * Worker presence through the cluster control plane: no live worker for a
 * platform → 503 at once (not after the start timeout); GET /api/platforms
 * lists the live workers by id; a worker stopped with SIGINT withdraws its
 * presence on the way out, so its platform shows unavailable right away.
 */
import type { ExecutionContext } from 'ava';
import {
  eventually,
  outputs,
  platformOf,
  ports,
  redisServer,
  startControlPlane,
  startWorker,
  waitForWorker,
  type Call,
} from './_harness.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

/** Far above the "fast" bound below: a 503 under it cannot be a timeout. */
const START_TIMEOUT_MS = 30_000;
const FAST_MS = 2_000;

async function expectNoLiveWorker(t: ExecutionContext, call: Call, id: string, platform: string) {
  const response = await call('POST', `/api/server/instances/${id}/start`, undefined, 60_000);
  t.is(response.status, 503, JSON.stringify(response.body));
  t.regex(response.contentType, /^application\/problem\+json/);
  t.is(response.body.type, 'urn:draas:problem:no-live-worker');
  t.regex(String(response.body.detail), new RegExp(`no live worker for platform "${platform}"`));
  t.true(response.ms < FAST_MS, `503 in ${response.ms} ms (start timeout ${START_TIMEOUT_MS} ms)`);
  return response;
}

test('no live worker → 503 fast; /api/platforms lists live workers by id; a worker stopped with SIGINT withdraws', async (t) => {
  t.timeout(120_000);
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: START_TIMEOUT_MS, replyTimeoutMs: 10_000 });
  const { call } = controlPlane;

  // No worker at all.
  const none = await platformOf(call);
  t.deepEqual(none, { platform: 'process', available: false, reason: 'no worker of this platform is running', workers: [], circuits: [] });
  t.is((await call('POST', '/api/server/instances', { name: 'lonely' })).status, 201);
  await expectNoLiveWorker(t, call, 'lonely', 'process');
  t.is((await call('GET', '/api/server/instances/lonely')).body.status, 'Failed');

  // Two workers: both listed by id, with the pid of their process.
  const [one, two] = await Promise.all([
    startWorker(t, redis.url, { workerId: 'presence-one', ports: ports(10) }),
    startWorker(t, redis.url, { workerId: 'presence-two', ports: ports(10) }),
  ]);
  await waitForWorker(controlPlane, one);
  await waitForWorker(controlPlane, two);
  const listed = await platformOf(call);
  t.is(listed?.available, true);
  t.deepEqual(listed?.workers.map((w) => w.workerId).sort(), ['presence-one', 'presence-two']);
  t.deepEqual(
    listed?.workers.map((w) => [w.workerId, w.details.pid]).sort(),
    [['presence-one', one.process.pid], ['presence-two', two.process.pid]],
  );
  const platforms = (await call('GET', '/api/platforms')).body as unknown as { platforms: { platform: string; available: boolean }[] };
  t.deepEqual(
    platforms.platforms.map((p) => [p.platform, p.available]),
    [['process', true], ['docker', false], ['kubernetes', false]],
  );

  // A platform without a worker still fails fast while process workers live.
  t.is((await call('POST', '/api/server/instances', { name: 'whale', platformType: 'docker' })).status, 201);
  await expectNoLiveWorker(t, call, 'whale', 'docker');

  // With workers, the same instance starts.
  const started = await call('POST', '/api/server/instances/lonely/start');
  t.is(started.status, 200, `${JSON.stringify(started.body)}\n${outputs(controlPlane.process, one.process, two.process)}`);
  t.is(started.body.status, 'Running');
  const stopped = await call('POST', '/api/server/instances/lonely/stop');
  t.is(stopped.status, 200);

  // SIGINT: each worker withdraws its presence before it exits (not waiting for the 6 s expiry).
  one.process.kill('SIGINT');
  t.true(await one.process.exited(15_000), outputs(one.process));
  t.is(one.process.exitCode, 0, outputs(one.process));
  const afterOne = await platformOf(call);
  t.deepEqual(afterOne?.workers.map((w) => w.workerId), ['presence-two']);
  t.is(afterOne?.available, true);

  two.process.kill('SIGINT');
  t.true(await two.process.exited(15_000), outputs(two.process));
  t.is(two.process.exitCode, 0, outputs(two.process));
  const exitedAt = Date.now();
  const afterTwo = await platformOf(call);
  t.log(`platform listed as unavailable ${Date.now() - exitedAt} ms after the last worker exited`);
  t.deepEqual(afterTwo, { platform: 'process', available: false, reason: 'no worker of this platform is running', workers: [], circuits: [] });

  await expectNoLiveWorker(t, call, 'lonely', 'process');
  // The control plane itself stays ready without workers.
  await eventually(async () => (await call('GET', '/readyz')).status === 200, 5_000, '/readyz 200', [controlPlane.process]);
});

test('a withdrawal is seen before the next command: a start right after its worker exits goes to a live worker, at once', async (t) => {
  t.timeout(120_000);
  const redis = await redisServer(t);
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: START_TIMEOUT_MS, replyTimeoutMs: 10_000 });
  const { call } = controlPlane;
  const one = await startWorker(t, redis.url, { workerId: 'leaving', ports: ports(5) });
  await waitForWorker(controlPlane, one);
  // Placed on the only worker there is, then stopped: it belongs to that worker, with nothing running.
  t.is((await call('POST', '/api/server/instances', { name: 'hopper' })).status, 201);
  const first = await call('POST', '/api/server/instances/hopper/start');
  t.is(first.body.workerId, 'leaving', JSON.stringify(first.body));
  t.is((await call('POST', '/api/server/instances/hopper/stop')).body.status, 'Stopped');
  const two = await startWorker(t, redis.url, { workerId: 'staying', ports: ports(5) });
  await waitForWorker(controlPlane, two);
  // Warm the control plane's presence cache with both workers, then withdraw one and start at once.
  t.true((await platformOf(call))?.workers.some((w) => w.workerId === 'leaving'));
  one.process.kill('SIGINT');
  t.true(await one.process.exited(15_000), outputs(one.process));
  const started = await call('POST', '/api/server/instances/hopper/start', undefined, 60_000);
  t.is(started.status, 200, `${JSON.stringify(started.body)}\n${outputs(controlPlane.process, two.process)}`);
  t.is(started.body.workerId, 'staying', 'placed again on the live worker: nothing could run on the one that left');
  t.true(started.ms < FAST_MS * 2, `answered in ${started.ms} ms`);
});
